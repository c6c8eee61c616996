// Issue 16, item 4: TLS. The real manager (`npm start`'s entry point) with FLOTILLA_TLS=self-signed
// serves HTTPS; its own agent speaks wss:// with the certificate pinned; curl trusts it with
// --cacert and refuses it without; Debian's `cs` reaches it with its verify option; a second agent
// joins over wss:// trusting the certificate as its CA; an agent pinning another fingerprint
// sends nothing and never connects.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../src/cloud.ts';
import { agentPids, startManager, stopManager, type ManagerProc } from '../src/manager-proc.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const PASSWORD = 'tls-pw';

async function curl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run('curl', ['-sS', '--max-time', '20', ...args]);
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: Number(x.code ?? -1), out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

test('HTTPS with a self-signed certificate: curl --cacert, cs with verify, agents over wss:// (pinned and by CA), a wrong pin sends nothing', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flt-tls-'));
  const started: ManagerProc[] = [];
  const extra: number[] = [];
  t.teardown(async () => {
    for (const m of started) await stopManager(m);
    for (const pid of [...extra, ...agentPids(dataDir)]) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    rmSync(dataDir, { recursive: true, force: true });
  });
  const m = await startManager({ PORT: '0', FLOTILLA_DATA_DIR: dataDir, FLOTILLA_ADMIN_PASSWORD: PASSWORD, FLOTILLA_LOCAL_NAME: `flt-t${randomBytes(3).toString('hex')}`,
    FLOTILLA_LOCAL_DRIVER: 'simulator', FLOTILLA_TLS: 'self-signed' });
  started.push(m);
  t.regex(m.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const ca = join(dataDir, 'tls/manager.crt');
  await waitFor(async () => /SHA-256 [0-9A-F:]{95}/.test(m.output()), 'the certificate line of the banner', 10_000);
  const fp = /SHA-256 ([0-9A-F:]{95})/.exec(m.output())?.[1];
  t.truthy(fp, m.output());

  // curl without the certificate refuses the server (60: peer certificate cannot be authenticated).
  const untrusted = await curl([`${m.url}/client/api?command=listZones&response=json`]);
  t.is(untrusted.code, 60, untrusted.err);
  // With it: a CloudStack answer (401 unauthenticated) over TLS; and plain HTTP is not served.
  const anon = await curl(['--cacert', ca, '-w', '\n%{http_code}', `${m.url}/client/api?command=listZones&response=json`]);
  t.is(anon.code, 0, anon.err);
  t.regex(anon.out, /"errorcode":401[\s\S]*\n401$/);
  const plain = await curl([`${m.url.replace('https:', 'http:')}/client/api?command=listZones`]);
  t.not(plain.code, 0);

  // Log in (POST) and register keys with curl, keeping the session's cookies.
  const jar = join(dataDir, 'cookies');
  const login = JSON.parse((await curl(['--cacert', ca, '-c', jar, '--data-urlencode', 'command=login', '--data-urlencode', 'username=admin', '--data-urlencode', `password=${PASSWORD}`,
    '--data-urlencode', 'domain=/', '--data-urlencode', 'response=json', `${m.url}/client/api`])).out).loginresponse;
  t.truthy(login.sessionkey);
  const keys = JSON.parse((await curl(['--cacert', ca, '-b', jar, `${m.url}/client/api?command=registerUserKeys&id=${login.userid}&response=json&sessionkey=${encodeURIComponent(login.sessionkey)}`])).out)
    .registeruserkeysresponse.userkeys;
  const cs = async (args: string[], verify: string) => {
    try {
      const r = await run('/usr/bin/python3', ['-m', 'cs', ...args], { env: { PATH: process.env.PATH, HOME: '/nonexistent', CLOUDSTACK_ENDPOINT: `${m.url}/client/api`,
        CLOUDSTACK_KEY: keys.apikey, CLOUDSTACK_SECRET: keys.secretkey, CLOUDSTACK_VERIFY: verify }, timeout: 60_000 });
      return { ok: true, out: r.stdout };
    } catch (e) { return { ok: false, out: String((e as { stderr?: string }).stderr) }; }
  };
  // cs verifies against the certificate given as its CA bundle, and refuses the system trust store.
  await waitFor(async () => JSON.parse((await cs(['listHosts', 'name=local'], ca)).out || '{}').host?.[0]?.state === 'Up', 'the local host Up (its agent over wss:// with the pinned certificate)', 120_000);
  const bad = await cs(['listZones'], '/etc/ssl/certs/ca-certificates.crt');
  t.false(bad.ok);
  t.regex(bad.out, /CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSLError/i);

  // A second host: its agent trusts the manager's certificate as CA.
  const hosts = JSON.parse((await cs(['listHosts', 'name=local'], ca)).out).host[0];
  const added = JSON.parse((await cs(['addHost', `zoneid=${hosts.zoneid}`, `podid=${hosts.podid}`, `clusterid=${hosts.clusterid}`, 'url=agent://tls2', 'hypervisor=Simulator'], ca)).out);
  const token = added.host[0].agenttoken;
  const wss = `${m.url.replace('https:', 'wss:')}/agent`;
  const agent = (extraArgs: string[]) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(root, 'agent/src/main.ts'), '--manager', wss, '--driver', 'simulator', '--host-name', 'tls2', ...extraArgs],
      { env: { ...process.env, FLT_AGENT_TOKEN: token }, stdio: ['ignore', 'ignore', 'pipe'] });
    extra.push(c.pid!);
    let err = '';
    c.stderr!.on('data', (b) => { err += b; });
    return { c, err: () => err };
  };
  // A pin that is not the manager's: nothing is sent (the manager never sees a hello), no session.
  const wrong = agent(['--manager-fingerprint', fp!.replace(/^../, fp!.startsWith('00') ? '11' : '00')]);
  await waitFor(async () => /not the pinned one/.test(wrong.err()), 'the wrong pin to be noticed', 30_000);
  await new Promise((r) => setTimeout(r, 3000));
  t.is(JSON.parse((await cs(['listHosts', 'name=tls2'], ca)).out).host[0].state, 'Connecting', wrong.err());
  t.notRegex(m.output(), /tls2.*host agent connected|host agent connected.*tls2/);
  wrong.c.kill('SIGKILL');
  // Without a CA or pin the agent refuses the self-signed certificate.
  const none = agent([]);
  await waitFor(async () => /self[- ]signed|unable to verify|certificate/i.test(none.err()), 'an agent without trust to refuse the certificate', 30_000);
  none.c.kill('SIGKILL');
  const good = agent(['--ca-file', ca]);
  await waitFor(async () => JSON.parse((await cs(['listHosts', 'name=tls2'], ca)).out).host[0].state === 'Up', 'the second host Up over wss:// (CA)', 60_000);
  t.regex(good.err(), /connected as host/);
  const pub = readFileSync(ca, 'utf8');
  t.regex(pub, /BEGIN CERTIFICATE/);
});
