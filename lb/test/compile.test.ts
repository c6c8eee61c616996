// The pure compilers: engine choice, validation, the HAProxy configuration (checked by the real
// `haproxy -c`), and the nft layout's promise that health and membership are element changes.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { shapeOf } from '@flotilla/firewall/apply';
import { lbEngine, validateLbSpec, type LbRule, type LbSpec } from '@flotilla/protocol/lb';
import { compileHaproxy, pemOf } from '../src/haproxy.ts';
import { compileLbNft } from '../src/nft.ts';

const run = promisify(execFile);
const uid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const be = (n: number) => Array.from({ length: n }, (_, i) => ({ vmId: uid(100 + i), ip: `10.1.1.${11 + i}` }));
const rule = (id: number, over: Partial<LbRule> = {}): LbRule => ({ id: uid(id), publicIp: '203.0.113.10', publicPort: 80, privatePort: 80, protocol: 'tcp', algorithm: 'roundrobin', sourceCidrs: [], backends: be(3), ...over });

test('engine per rule: plain L4 in the kernel, the rest in HAProxy', (t) => {
  t.is(lbEngine(rule(1)), 'kernel');
  t.is(lbEngine(rule(1, { algorithm: 'source' })), 'kernel');
  t.is(lbEngine(rule(1, { protocol: 'udp' })), 'kernel');
  t.is(lbEngine(rule(1, { stickiness: { method: 'SourceBased' } })), 'kernel');
  t.is(lbEngine(rule(1, { algorithm: 'leastconn' })), 'haproxy');
  t.is(lbEngine(rule(1, { protocol: 'tcp-proxy' })), 'haproxy');
  t.is(lbEngine(rule(1, { protocol: 'ssl' })), 'haproxy');
  t.is(lbEngine(rule(1, { stickiness: { method: 'LbCookie' } })), 'haproxy');
});

test('validation: listener conflicts, ssl without a certificate, tenant strings that could reach the config', (t) => {
  const d = validateLbSpec({ rules: [rule(1), rule(2, { protocol: 'tcp-proxy' }), rule(3, { protocol: 'udp' })] });
  t.deepEqual(d.map((x) => x.kind), ['conflict'], JSON.stringify(d));
  t.is(d[0]!.ruleId, uid(2));
  t.true(validateLbSpec({ rules: [rule(1, { protocol: 'ssl' })] }).some((x) => /certificate/.test(x.message)));
  t.true(validateLbSpec({ rules: [rule(1, { stickiness: { method: 'LbCookie', cookieName: 'a b\nserver x' } })] }).length > 0);
  t.true(validateLbSpec({ rules: [rule(1, { healthCheck: { pingPath: '/ok HTTP/1.0\r\nX: y', intervalS: 5, timeoutS: 2, healthy: 2, unhealthy: 2 } })] }).length > 0);
  t.true(validateLbSpec({ rules: [rule(1, { protocol: 'udp', healthCheck: { intervalS: 5, timeoutS: 2, healthy: 2, unhealthy: 2 } })] }).length > 0);
  t.deepEqual(validateLbSpec({ rules: [rule(1), rule(2, { publicPort: 81, algorithm: 'source', sourceCidrs: ['10.0.0.0/8'] })] }), []);
});

test('the generated HAProxy configuration is accepted by haproxy -c (TLS, cookies, app cookie, PROXY protocol, checks, cidrlist)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flt-lbc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', '/CN=lb.test']);
  const { readFileSync } = await import('node:fs');
  const tls = { certificate: readFileSync(join(dir, 'c.pem'), 'utf8'), privateKey: readFileSync(join(dir, 'k.pem'), 'utf8') };
  const spec: LbSpec = { rules: [
    rule(1, { protocol: 'ssl', publicPort: 443, tls, stickiness: { method: 'LbCookie', cookieName: 'SRV', nocache: true } }),
    rule(2, { publicPort: 8080, stickiness: { method: 'AppCookie', cookieName: 'JSESSIONID', holdtimeS: 600 }, healthCheck: { pingPath: '/health', intervalS: 2, timeoutS: 1, healthy: 2, unhealthy: 3 } }),
    rule(3, { protocol: 'tcp-proxy', publicPort: 8081, algorithm: 'leastconn', sourceCidrs: ['203.0.113.0/24'] }),
    rule(4, { publicPort: 8082 }),
  ] };
  t.is(validateLbSpec(spec).length, 0);
  writeFileSync(join(dir, `${uid(1)}.pem`), pemOf(spec.rules[0]!)!);
  const cfg = compileHaproxy(spec, { socket: join(dir, 'admin.sock'), certDir: dir });
  t.false(cfg.includes(uid(4)), 'a kernel rule is not in HAProxy');
  t.true(cfg.includes(`bind 203.0.113.10:443 ssl crt ${dir}/${uid(1)}.pem`));
  t.true(cfg.includes('cookie SRV insert indirect nocache'));
  t.true(cfg.includes('stick on req.cook(JSESSIONID)'));
  t.true(cfg.includes('option httpchk GET /health'));
  // Check timing on each server line (the runtime API's add server ignores default-server).
  t.true(cfg.includes(`server ${uid(100)}_10-1-1-11 10.1.1.11:80 check inter 2s rise 2 fall 3\n`));
  t.true(cfg.includes('send-proxy'));
  t.true(cfg.includes('acl allowed src 203.0.113.0/24'));
  writeFileSync(join(dir, 'h.cfg'), cfg);
  const r = await run('haproxy', ['-c', '-f', join(dir, 'h.cfg')]).catch((e: { stdout: string; stderr: string }) => ({ stdout: e.stdout, stderr: `FAILED ${e.stderr}` }));
  t.false(r.stderr.includes('FAILED'), r.stderr);
});

test('nft: the layout\'s shape does not depend on health or on membership below the slot count', (t) => {
  const spec: LbSpec = { rules: [rule(1), rule(2, { publicPort: 81, algorithm: 'source' }), rule(3, { protocol: 'udp', publicPort: 53 })] };
  const doc = (s: LbSpec, down = new Map<string, Set<string>>()) => shapeOf({ nftables: compileLbNft(s, down) });
  const base = doc(spec);
  t.is(doc(spec, new Map([[uid(1), new Set(['10.1.1.12'])]])), base, 'a backend down: elements only');
  t.is(doc(spec, new Map([[uid(1), new Set(['10.1.1.11', '10.1.1.12', '10.1.1.13'])]])), base, 'all down: elements only');
  t.is(doc({ rules: [rule(1, { backends: be(7) }), ...spec.rules.slice(1)] }), base, 'membership change: elements only');
  t.not(doc({ rules: [rule(1, { backends: be(9) }), ...spec.rules.slice(1)] }), base, 'beyond 8 backends the slot chains grow');
  // A HAProxy rule leaves the kernel's elements alone.
  const withProxy = compileLbNft({ rules: [...spec.rules, rule(4, { publicPort: 443, protocol: 'ssl' })] });
  t.deepEqual(withProxy, compileLbNft(spec));
});
