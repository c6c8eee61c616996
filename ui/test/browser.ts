// Debian's chromium driven by playwright-core (nothing downloads a browser), axe-core injected
// into the page, screenshots kept under ui/artifacts/ (gitignored) for people to look at.
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHROMIUM = process.env.FLOTILLA_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

export interface Browser { context: BrowserContext; page: Page; close(): Promise<void> }

/** A headless chromium with a fresh profile; nothing of it outlives close(). */
export async function openBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'flt-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  // window.confirm() before destroy/delete: the user says yes.
  page.on('dialog', (d) => void d.accept());
  return { context, page, async close() { await context.close().catch(() => undefined); rmSync(profile, { recursive: true, force: true }); } };
}

export interface AxeViolation { id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[]; html: string }> }

/** axe-core's serious and critical violations on the page as it is now. */
export async function axeSerious(page: Page): Promise<AxeViolation[]> {
  if (!await page.evaluate('typeof window.axe === "object"')) await page.addScriptTag({ path: AXE });
  const r = await page.evaluate('window.axe.run(document, { resultTypes: ["violations"] })') as { violations: AxeViolation[] };
  return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Logs in through the login form. */
export async function uiLogin(page: Page, base: string, username: string, password: string, domain = ''): Promise<void> {
  await page.goto(`${base}/client/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  if (domain) await page.getByLabel('Domain').fill(domain);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}
