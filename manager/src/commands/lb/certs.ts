// SSL certificates for TLS termination (protocol ssl rules, HAProxy on the router). The
// certificate and key are parsed and matched with Node's crypto (X509Certificate) on upload;
// the private key is sealed with the master key at rest and opened only into a router's spec.
import { X509Certificate, createPrivateKey, randomUUID } from 'node:crypto';
import { ALL_ROLES, SUCCESS_RESPONSE, command } from '../../api/registry.ts';
import { apiError, paramError } from '../../api/errors.ts';
import type { Context } from '../../api/context.ts';
import { changeNetwork } from '../network/apply.ts';
import { mayAccess } from '../../api/entities.ts';
import { lbById } from './rules.ts';
import { CERT_SELECT, SSL_CERT, certView, fingerprintOf, type CertRow } from './views.ts';

const PEM = /^(-----BEGIN [A-Z0-9 ]{1,40}-----\r?\n[A-Za-z0-9+/=\r\n]+-----END [A-Z0-9 ]{1,40}-----\s*)+$/;
const pemCheck = (v: string) => (PEM.test(v.trim() + '\n') ? undefined : 'it is not PEM text');

async function certById(ctx: Context, id: string, param = 'id'): Promise<CertRow> {
  const c = (await ctx.sql.query<CertRow>(`${CERT_SELECT} WHERE c.id = $1`, [id]))[0];
  if (!c) throw paramError(`Unable to find SSL certificate by ${param}=${id}`);
  return c;
}
async function rulesOf(ctx: Context, certId: string): Promise<string[]> {
  return (await ctx.sql.query<{ id: string }>('SELECT id FROM lb_rules WHERE cert_id = $1 ORDER BY created', [certId])).map((r) => r.id);
}

export const uploadSslCert = command({
  name: 'uploadSslCert', description: 'Upload a certificate to CloudStack', roles: ALL_ROLES, response: SSL_CERT, shape: 'object', event: 'LB.CERT.UPLOAD',
  params: {
    certificate: { type: 'string', required: true, description: 'SSL certificate', length: 65_536, check: pemCheck },
    privatekey: { type: 'string', required: true, description: 'Private key', length: 65_536, check: pemCheck },
    certchain: { type: 'string', description: 'Certificate chain of trust', length: 65_536, check: pemCheck },
    name: { type: 'string', required: true, description: 'Name for the uploaded certificate', check: (v: string) => (/^[\p{L}\p{N} _.:@()-]{1,255}$/u.test(v) ? undefined : 'it may contain letters, digits, spaces and _ . : @ ( ) - only') },
    password: { type: 'string', description: 'Password for the private key' },
    account: { type: 'string', description: 'account that will own the SSL certificate' },
    domainid: { type: 'uuid', entity: 'domain', description: 'domain ID of the account owning the SSL certificate' },
    projectid: { type: 'uuid', entity: 'project', description: 'an optional project for the SSL certificate' },
    enabledrevocationcheck: { type: 'boolean', description: 'Enables revocation checking for certificates' },
  },
  async handler(ctx, a) {
    if (a.password) throw paramError('Encrypted private keys (password) are not supported: upload the key unencrypted (PKCS#8 or PKCS#1 PEM)');
    if (a.projectid) throw paramError('Projects are not supported yet: omit projectid');
    if (a.account || a.domainid) throw paramError('Uploading for another account is not supported yet: omit account and domainid');
    let x509: X509Certificate;
    try { x509 = new X509Certificate(a.certificate); } catch (e) { throw paramError(`Invalid certificate: ${(e as Error).message}`); }
    let key;
    try { key = createPrivateKey(a.privatekey); } catch (e) { throw paramError(`Invalid private key: ${(e as Error).message}`); }
    if (!x509.checkPrivateKey(key)) throw paramError('Bad public-private key pair: the private key does not match the certificate');
    if (a.certchain) { try { new X509Certificate(a.certchain); } catch (e) { throw paramError(`Invalid certificate chain: ${(e as Error).message}`); } }
    const id = randomUUID();
    await ctx.sql.query('INSERT INTO ssl_certs (id, name, account_id, domain_id, certificate, chain, private_key_enc, fingerprint) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)',
      [id, a.name, ctx.caller.accountId, ctx.caller.domainId, a.certificate.trim() + '\n', a.certchain ? a.certchain.trim() + '\n' : null, ctx.services.secrets.seal(a.privatekey.trim() + '\n'), fingerprintOf(x509.raw)]);
    ctx.setResource('SslCert', id);
    return certView((await ctx.sql.query<CertRow>(`${CERT_SELECT} WHERE c.id = $1`, [id]))[0]!, []);
  },
});

export const deleteSslCert = command({
  name: 'deleteSslCert', description: 'Delete a certificate to CloudStack', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success', event: 'LB.CERT.DELETE',
  params: { id: { type: 'uuid', entity: 'sslcert', required: true, description: 'Id of SSL certificate' } },
  async handler(ctx, a) {
    const c = await certById(ctx, a.id);
    const used = await rulesOf(ctx, c.id);
    if (used.length) throw apiError('RESOURCE_IN_USE', `Certificate in use by a loadbalancer(s): ${used.join(', ')}`, used);
    await ctx.sql.query('DELETE FROM ssl_certs WHERE id = $1', [c.id]);
    ctx.setResource('SslCert', c.id);
  },
});

export const listSslCerts = command({
  name: 'listSslCerts', description: 'Lists SSL certificates', roles: ALL_ROLES, response: SSL_CERT, shape: 'list', related: ['uploadSslCert'],
  params: {
    certid: { type: 'uuid', entity: 'sslcert', access: 'operate', description: 'ID of SSL certificate' },
    lbruleid: { type: 'uuid', entity: 'lbrule', access: 'operate', description: 'Load balancer rule ID' },
    accountid: { type: 'uuid', entity: 'account', access: 'operate', description: 'Account ID' },
    projectid: { type: 'uuid', entity: 'project', description: 'Project that owns the SSL certificate' },
  },
  async handler(ctx, a) {
    if (a.projectid) return [];
    let list: CertRow[];
    if (a.certid) list = [await certById(ctx, a.certid, 'certid')];
    else if (a.lbruleid) {
      const r = await lbById(ctx, a.lbruleid, 'lbruleid');
      list = r.cert_id ? [await certById(ctx, r.cert_id)] : [];
    } else {
      const account = a.accountid ?? ctx.caller.accountId;
      if (account !== ctx.caller.accountId && ctx.caller.role === 'User') throw apiError('ACCOUNT_ERROR', `Account ${ctx.caller.accountName} does not have permission to list the certificates of account id=${account}`);
      list = await ctx.sql.query<CertRow>(`${CERT_SELECT} WHERE c.account_id = $1 ORDER BY c.created`, [account]);
      list = list.filter((c) => mayAccess(ctx.caller, 'sslcert', 'operate', c));
    }
    return Promise.all(list.map(async (c) => certView(c, await rulesOf(ctx, c.id))));
  },
});

export const assignCertToLoadBalancer = command({
  name: 'assignCertToLoadBalancer', description: 'Assigns a certificate to a load balancer rule', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'LB.CERT.ASSIGN', instance: { type: 'FirewallRule', param: 'lbruleid' },
  params: {
    lbruleid: { type: 'uuid', entity: 'lbrule', required: true, description: 'the ID of the load balancer rule' },
    certid: { type: 'uuid', entity: 'sslcert', required: true, description: 'the ID of the certificate' },
  },
  async create(ctx, a) {
    const r = await lbById(ctx, a.lbruleid, 'lbruleid');
    const c = await certById(ctx, a.certid, 'certid');
    if (c.account_id !== r.account_id) throw apiError('ACCOUNT_ERROR', `Certificate ${c.name} and load balancer rule ${r.name} belong to different accounts`);
    if (r.protocol !== 'ssl') throw paramError(`Assign certificate to load balancer rule ${r.name} failed: its protocol is ${r.protocol}; certificates are used by protocol ssl`);
    if (r.cert_id) throw paramError(`Assign certificate to load balancer rule ${r.name} failed: it already has a certificate (removeCertFromLoadBalancer first)`);
  },
  async handler(ctx, a) {
    const r = await lbById(ctx, a.lbruleid, 'lbruleid');
    await certById(ctx, a.certid, 'certid');
    await changeNetwork(ctx, r.network_id, async (sql) => { await sql.query('UPDATE lb_rules SET cert_id = $2 WHERE id = $1', [r.id, a.certid]); },
      async (sql) => { await sql.query('UPDATE lb_rules SET cert_id = NULL WHERE id = $1', [r.id]); });
    ctx.setResource('LoadBalancerRule', r.id);
  },
});

export const removeCertFromLoadBalancer = command({
  name: 'removeCertFromLoadBalancer', description: 'Removes a certificate from a load balancer rule', roles: ALL_ROLES, response: SUCCESS_RESPONSE, shape: 'success',
  isAsync: true, transactional: false, event: 'LB.CERT.REMOVE', instance: { type: 'FirewallRule', param: 'lbruleid' },
  params: { lbruleid: { type: 'uuid', entity: 'lbrule', required: true, description: 'the ID of the load balancer rule' } },
  async create(ctx, a) {
    const r = await lbById(ctx, a.lbruleid, 'lbruleid');
    if (!r.cert_id) throw paramError(`No certificate is bound to load balancer rule ${r.name}`);
  },
  async handler(ctx, a) {
    const r = await lbById(ctx, a.lbruleid, 'lbruleid');
    if (!r.cert_id) return;
    await changeNetwork(ctx, r.network_id, async (sql) => { await sql.query('UPDATE lb_rules SET cert_id = NULL WHERE id = $1', [r.id]); },
      async (sql) => { await sql.query('UPDATE lb_rules SET cert_id = $2 WHERE id = $1', [r.id, r.cert_id]); });
    ctx.setResource('LoadBalancerRule', r.id);
  },
});
