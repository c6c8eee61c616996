// Where a cold load of the instances page spends its time (not a benchmark: a diagnostic for
// decision 0801): 25 VMs on a simulator host, three cold loads in chromium with the CPU profiler
// on; prints when each response arrived and the renderer's self time by script and function.
// Run: node --import tsx bench/profile.ts
import { chromium } from 'playwright-core';
import { SimulatorDriver } from '@flotilla/agent';
import { login } from '@flotilla/manager/client';
import { addHost, createZone, startCloud } from '@flotilla/tests/cloud';
const cleanups: Array<() => unknown> = [];
const t = { teardown: (fn: () => unknown) => { cleanups.push(fn); } };
try {
  const cloud = await startCloud(t);
  const z = await createZone(cloud.admin, 'uiprof', 'Simulator');
  await addHost(t, cloud, z, { name: 'uiprof-sim', driver: new SimulatorDriver({ capacity: { cpus: 64, cpuMhz: 4000, memoryMb: 1024 * 1024 } }), tag: 'uip' });
  const admin = cloud.admin;
  const off = (await admin.ok('listNetworkOfferings', { name: 'DefaultSharedNetworkOffering' })).networkoffering[0];
  const net = (await admin.ok('createNetwork', { name: 'uiprof', zoneid: z.zoneId, networkofferingid: off.id, vlan: 'vxlan://6501', gateway: '10.91.0.1', netmask: '255.255.255.0', startip: '10.91.0.10', endip: '10.91.0.250' })).network;
  const so = (await admin.ok('listServiceOfferings', { name: 'Small Instance' })).serviceoffering[0];
  const tpl = (await admin.ok('listTemplates', { templatefilter: 'featured' })).template[0];
  for (let i = 0; i < 25; i++) await admin.job('deployVirtualMachine', { zoneid: z.zoneId, serviceofferingid: so.id, templateid: tpl.id, networkids: net.id, name: `vm${String(i).padStart(4, '0')}` }, 300_000);
  const s = await login(cloud.url, 'admin', 'e2e-admin');
  const b = s.body;
  const saved = JSON.stringify({ sessionkey: b.sessionkey, username: b.username, userid: b.userid, account: b.account, domainid: b.domainid, type: String(b.type) });
  const cookies = s.cookie.split('; ').filter(Boolean).map((c) => { const i = c.indexOf('='); return { name: c.slice(0, i), value: c.slice(i + 1), url: cloud.url }; });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  cleanups.push(() => browser.close());
  for (let run = 0; run < 3; run++) {
    const ctx = await browser.newContext();
    await ctx.addCookies(cookies);
    await ctx.addInitScript(`sessionStorage.setItem('flotilla.session', ${JSON.stringify(saved)})`);
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
    const t0 = performance.now();
    const times: string[] = [];
    page.on('response', (r) => times.push(`${(performance.now() - t0).toFixed(0)} ${new URL(r.url()).pathname.split('/').pop()}`));
    await page.goto(`${cloud.url}/client/#/instances`);
    await page.getByRole('link', { name: 'vm0000', exact: true }).waitFor();
    const total = performance.now() - t0;
    const { profile } = await cdp.send('Profiler.stop') as any;
    const self = new Map<string, number>();
    const dt: number[] = profile.timeDeltas; const byId = new Map(profile.nodes.map((n: any) => [n.id, n]));
    const counts = new Map<number, number>();
    profile.samples.forEach((id: number, i: number) => counts.set(id, (counts.get(id) ?? 0) + (dt[i] ?? 0)));
    for (const [id, us] of counts) { const n: any = byId.get(id); const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`; self.set(k, (self.get(k) ?? 0) + us / 1000); }
    const byUrl = new Map<string, number>();
    for (const [id, us] of counts) { const n: any = byId.get(id); const k = n.callFrame.url.split('/').pop() || n.callFrame.functionName; byUrl.set(k, (byUrl.get(k) ?? 0) + us / 1000); }
    console.log(`run ${run}: total ${total.toFixed(0)} ms; responses: ${times.join(', ')}`);
    console.log('  by url:', [...byUrl].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k}=${v.toFixed(0)}`).join(' '));
    console.log('  top self:', [...self].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `${k}=${v.toFixed(0)}`).join(' | '));
    await ctx.close();
  }
} finally { for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined); }
process.exit(0);
