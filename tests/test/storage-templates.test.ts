// Templates and ISOs through the secondary storage service, driven by Debian's `cs` CLI and
// curl: an image store (provider Local), registerTemplate downloads from an HTTP server this test
// starts on loopback (right and wrong checksums, a slow server whose progress listTemplates
// shows, an interrupted one), a browser-style signed upload, extractTemplate's URL, a VM from
// the registered template (Simulator host), deleteTemplate removing the files, ISOs.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GUEST_TEMPLATE_ID } from '@flotilla/storage';
import { md5, rootfsTar, serve, sha256 } from '@flotilla/storage/testing';
import { DIALECTS, cloudOn, csCli, simZone, tenant } from '../src/clients.ts';

const sh = promisify(execFile);
/** cs prints a failed call as {"<command>response": {errorcode, errortext}}. */
const err = (r: Record<string, any>) => Object.values(r)[0] as { errorcode?: number; errortext?: string };
/** …and a failed async job as its queryAsyncJobResult, the error under jobresult. */
const jobErr = (r: Record<string, any>) => (r.queryasyncjobresultresponse ?? r).jobresult as { errorcode?: number; errortext?: string };

async function until<T>(f: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const dialect of DIALECTS) {
  test(`image store, registerTemplate downloads with progress and checks, signed upload, extract, deploy, delete; ISOs [${dialect}]`, async (t) => {
    const cloud = await cloudOn(t, dialect);
    const z = await simZone(t, cloud, 'img');
    const dir = mkdtempSync(join(tmpdir(), 'flt-store-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const api = await tenant(cloud, 'tina');
    const cs = (args: string[]) => csCli(api, args);
    const admin = (args: string[]) => csCli(cloud.admin, args);

    const tar = rootfsTar(300_000);
    const big = rootfsTar(3_000_000);
    const web = await serve({ 'ok.tar': tar, 'page.html': Buffer.from('<html>x</html>'.repeat(50)) });
    const slow = await serve({ 'slow.tar': big }, { slowMs: 200 });
    const cut = await serve({ 'cut.tar': big }, { cutAfter: 1_000_000 });
    t.teardown(async () => { await web.close(); await slow.close(); await cut.close(); });

    // Registered before the zone has a store: it waits, and addImageStore starts it.
    const early = (await cs(['registerTemplate', 'name=early', 'format=TAR', 'hypervisor=LXC', `zoneid=${z.zoneId}`, `url=${web.url}/ok.tar`])).template[0];
    t.like(early, { isready: false, status: 'Not downloaded: no image store in this zone yet (addImageStore)' });

    // Image stores: bad input is refused before anything is written.
    t.like(err(await admin(['addImageStore', 'provider=NFS', 'url=nfs://x/y'])), { errorcode: 431 });
    t.like(err(await admin(['addImageStore', 'provider=Local', 'url=file:///tmp/../etc'])), { errorcode: 431 });
    t.like(err(await admin(['addImageStore', 'provider=Local', 'url=file:///etc'])), { errorcode: 534 });
    t.false(existsSync('/etc/templates'));
    t.like(err(await cs(['addImageStore', 'provider=Local', `url=file://${dir}`])), { errorcode: 432 });
    t.deepEqual(await admin(['listImageStores']), {});
    const store = (await admin(['addImageStore', 'provider=Local', 'name=img-store', `url=file://${dir}`, `zoneid=${z.zoneId}`])).imagestore;
    t.like(store, { name: 'img-store', providername: 'Local', protocol: 'file', scope: 'ZONE', zoneid: z.zoneId, url: `file://${dir}` });
    t.true(store.disksizetotal > 0);
    t.is((await admin(['listImageStores'])).imagestore.length, 1);
    // The store's signing key is sealed at rest like every secret (not the 32-byte key in base64).
    const [row] = await cloud.m.services.db.query<{ secret: string }>('SELECT secret FROM image_stores WHERE id = $1', [store.id]);
    t.regex(row!.secret, /^v1\./);
    t.is(Buffer.from(cloud.m.services.secrets.open(row!.secret), 'base64').length, 32);

    const list = async (id: string) => (await cs(['listTemplates', 'templatefilter=self', `id=${id}`])).template?.[0];
    t.like(await until(async () => { const x = await list(early.id); return x.isready ? x : undefined; }, 'early template'), { status: 'Download Complete', size: tar.length });

    // Right checksums (MD5 bare, SHA-256 prefixed), a wrong one, a page that is no tarball.
    const reg = async (name: string, url: string, checksum?: string) => (await cs(['registerTemplate', `name=${name}`, 'format=TAR', 'hypervisor=LXC', `zoneid=${z.zoneId}`,
      `url=${url}`, ...(checksum ? [`checksum=${checksum}`] : [])])).template[0];
    t.like(err(await cs(['registerTemplate', 'name=bad', 'format=TAR', 'hypervisor=LXC', `zoneid=${z.zoneId}`, `url=${web.url}/ok.tar`, `checksum={SHA256}${sha256(tar)}`])), { errorcode: 431 });
    const good = await reg('good', `${web.url}/ok.tar`, md5(tar));
    const good2 = await reg('good2', `${web.url}/ok.tar`, `{SHA-256}${sha256(tar)}`);
    const wrong = await reg('wrong', `${web.url}/ok.tar`, md5(Buffer.from('x')));
    const html = await reg('html', `${web.url}/page.html`);
    const cutT = await reg('cut', `${cut.url}/cut.tar`);
    const slowT = await reg('slow', `${slow.url}/slow.tar`);
    const seen = new Set<string>();
    const done = async (id: string) => until(async () => { const x = await list(id); seen.add(x.status); return /Complete|Failed/.test(x.status) ? x : undefined; }, `template ${id}`, 60_000);
    // The slow one first: listTemplates shows its progress as CloudStack does.
    t.like(await done(slowT.id), { isready: true, status: 'Download Complete' });
    t.true([...seen].filter((s) => /^[1-9]\d?% Downloaded$/.test(s)).length >= 3, `progress seen by listTemplates: ${[...seen].join(' | ')}`);
    t.like(await done(good.id), { isready: true, status: 'Download Complete', size: tar.length, physicalsize: tar.length, checksum: md5(tar) });
    t.like(await done(good2.id), { isready: true, checksum: `{SHA-256}${sha256(tar)}` });
    t.like(await done(wrong.id), { isready: false });
    t.regex((await list(wrong.id)).status, /^Download Failed: checksum mismatch \(MD5 expected/);
    t.regex((await done(html.id)).status, /^Download Failed: not a TAR root filesystem/);
    t.regex((await done(cutT.id)).status, /^Download Failed: the connection ended after \d+ of \d+ bytes$/);
    // Failed transfers leave no file; the stored ones are there, with the built-in guest
    // template the store built at its first start.
    t.deepEqual(readdirSync(join(dir, 'templates')).sort(), [early.id, good.id, good2.id, slowT.id, GUEST_TEMPLATE_ID].sort());
    t.deepEqual(readdirSync(join(dir, 'tmp')), []);
    // (deployVirtualMachine checks the template in its job; cs prints the failed job)
    const nr = (await cs(['deployVirtualMachine', `zoneid=${z.zoneId}`, `templateid=${wrong.id}`, `serviceofferingid=${(await cs(['listServiceOfferings', 'name=Small Instance'])).serviceoffering[0].id}`]));
    const notReady = jobErr(nr);
    t.like(notReady, { errorcode: 431 });
    t.regex(notReady.errortext!, /Template wrong is not ready: Download Failed: checksum mismatch/);

    // Browser upload: CloudStack's signed POST, with curl.
    const up = (await cs(['getUploadParamsForTemplate', 'name=upl', 'displaytext=upl', 'format=TAR', 'hypervisor=LXC', `zoneid=${z.zoneId}`, `checksum=${md5(tar)}`])).getuploadparams;
    t.truthy(up.postURL && up.signature && up.metadata && up.expires);
    t.like(await list(up.id), { isready: false, status: 'Not Uploaded' });
    const file = join(dir, '..', `${up.id}.tar`);
    writeFileSync(file, tar);
    t.teardown(() => rmSync(file, { force: true }));
    const post = async (sig: string) => (await sh('curl', ['-sS', '-w', ' %{http_code}', '-X', 'POST', up.postURL, '-H', `X-signature: ${sig}`, '-H', `X-metadata: ${up.metadata}`, '-H', `X-expires: ${up.expires}`, '-F', `file=@${file}`])).stdout;
    t.is(await post(`${up.signature.slice(0, -2)}AA`), 'signature validation failed. 400');
    t.is(await post(up.signature), 'upload successful. 200');
    t.like(await until(async () => { const x = await list(up.id); return x.isready ? x : undefined; }, 'uploaded template'), { status: 'Download Complete', physicalsize: tar.length });

    // extractTemplate: only the owner's extractable templates; the URL serves the same bytes.
    t.like(err(await cs(['extractTemplate', `id=${good.id}`, 'mode=HTTP_DOWNLOAD'])), { errorcode: 431 });
    const ex = (await admin(['extractTemplate', `id=${good.id}`, 'mode=HTTP_DOWNLOAD'])).template;
    t.like(ex, { id: good.id, extractMode: 'HTTP_DOWNLOAD', state: 'DOWNLOAD_URL_CREATED' });
    const got = Buffer.from(await (await fetch(ex.url)).arrayBuffer());
    t.is(sha256(got), sha256(tar));
    // A forged signature: its first hex digit changed (to one it cannot already be).
    const forged = ex.url.replace(/signature=(.)/, (_m: string, c: string) => `signature=${c === '0' ? '1' : '0'}`);
    t.not(forged, ex.url);
    t.is((await fetch(forged)).status, 403);

    // A VM from the registered template; the template in use cannot be deleted.
    const small = (await cs(['listServiceOfferings', 'name=Small Instance'])).serviceoffering[0];
    const vm = (await cs(['deployVirtualMachine', `zoneid=${z.zoneId}`, `templateid=${good.id}`, `serviceofferingid=${small.id}`, 'name=fromtpl'])).virtualmachine;
    t.like(vm, { state: 'Running', templateid: good.id });
    const inUse = jobErr(await cs(['deleteTemplate', `id=${good.id}`]));
    t.like(inUse, { errorcode: 431 });
    t.regex(inUse.errortext!, /because VM instances: \[fromtpl\] are using it/);
    t.true(existsSync(join(dir, 'templates', good.id)));
    await api.jobOk('destroyVirtualMachine', { id: vm.id, expunge: true });
    t.like(await cs(['deleteTemplate', `id=${good.id}`]), { success: true });
    t.false(existsSync(join(dir, 'templates', good.id)));
    t.is(await list(good.id), undefined);
    t.like(await cs(['deleteTemplate', `id=${wrong.id}`]), { success: true });

    // ISOs: stored the same way, listed apart from templates.
    const iso = (await cs(['registerIso', 'name=rescue', 'displaytext=rescue', `zoneid=${z.zoneId}`, `url=${web.url}/page.html`, 'bootable=true'])).iso[0];
    const isoDone = await until(async () => { const x = (await cs(['listIsos', 'isofilter=self', `id=${iso.id}`])).iso?.[0]; return x?.isready ? x : undefined; }, 'ISO');
    t.like(isoDone, { name: 'rescue', bootable: true, status: 'Download Complete', format: 'ISO' });
    t.is((await cs(['listTemplates', 'templatefilter=self', `id=${iso.id}`])).template, undefined);
    t.like(await cs(['deleteIso', `id=${iso.id}`]), { success: true });
    t.false(existsSync(join(dir, 'templates', iso.id)));
    t.deepEqual(await cs(['listIsos', 'isofilter=self']), {});
    // A store with templates cannot be deleted.
    t.like(err(await admin(['deleteImageStore', `id=${store.id}`])), { errorcode: 431 });
  });
}
