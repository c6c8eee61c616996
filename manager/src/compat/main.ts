// `npm run compat`: writes docs/compatibility.md from the command registry and CloudStack 4.18's
// command list; `--check` only says whether the committed file is current (exit 1 if not).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildRegistry } from '../commands/index.ts';
import { compare, render, type CsApi } from './compare.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
export const DATA = `${root}docs/compat/cloudstack-4.18-apis.json`;
export const TABLE = `${root}docs/compatibility.md`;

export const loadCloudStack = (): CsApi[] => JSON.parse(readFileSync(DATA, 'utf8')) as CsApi[];
export const generate = (): string => render(compare(buildRegistry().all(), loadCloudStack()));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = generate();
  if (process.argv.includes('--check')) {
    const current = readFileSync(TABLE, 'utf8');
    if (current !== text) { process.stderr.write('docs/compatibility.md is stale: run npm run compat\n'); process.exit(1); }
  } else {
    writeFileSync(TABLE, text);
    process.stdout.write(`${TABLE.slice(root.length)}: ${text.split('\n')[6]}\n`);
  }
}
