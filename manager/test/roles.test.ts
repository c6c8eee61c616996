// Dynamic roles driven by a real client (Debian's `cs` CLI): a custom role that denies one
// command, an account with it, and what that account may call and sees in listApis; rule order,
// import, cloning, the built-in roles' guards, and bad input refused with nothing written.
import { eachDialect, signedClient, startManager } from './helpers.ts';
import { cs } from './real-clients.ts';
import { decide } from '../src/api/permissions.ts';
import test from 'ava';

test('decide: the first matching rule wins, wildcards match runs of letters and digits, no match denies', (t) => {
  const rules = [{ rule: 'createNetwork', permission: 'deny' as const }, { rule: 'create*', permission: 'allow' as const }, { rule: 'list*', permission: 'allow' as const }];
  t.false(decide(rules, 'createNetwork'));
  t.true(decide(rules, 'createNetworkACL'), 'an exact rule matches its name only');
  t.true(decide(rules, 'createVPC'));
  t.true(decide(rules, 'listZones'));
  t.false(decide(rules, 'deleteNetwork'), 'nothing matches: denied');
  t.true(decide([{ rule: '*', permission: 'allow' }], 'anything'));
  t.false(decide([{ rule: '*Network', permission: 'deny' }, { rule: '*', permission: 'allow' }], 'deleteNetwork'));
  t.true(decide([{ rule: '*Network', permission: 'deny' }, { rule: '*', permission: 'allow' }], 'deleteNetworkOffering'));
});

eachDialect('a custom role that denies createNetwork: the account cannot call it nor see it in listApis; everything else of its type works', async (t, dialect) => {
  const { url, admin } = await startManager(t, dialect);
  const run = async (key: string, secret: string, args: string[]) => cs(url, key, secret, args);
  const asAdmin = (args: string[]) => run(admin.apiKey, admin.secretKey, args);

  t.true((await admin.ok('listCapabilities')).capability.dynamicrolesenabled);
  const builtins = (await asAdmin(['listRoles'])).out.role;
  t.deepEqual(builtins.map((r: any) => [r.name, r.type, r.isdefault]), [['Root Admin', 'Admin', true], ['Domain Admin', 'DomainAdmin', true], ['User', 'User', true]]);

  const role = await asAdmin(['createRole', 'name=No networks', 'type=User', 'description=users who may not create networks']);
  t.is(role.code, 0, role.err);
  const roleId = role.out.role.id;
  t.like(role.out.role, { name: 'No networks', type: 'User', isdefault: false });
  // Rules in order: the deny first, then everything else.
  t.is((await asAdmin(['createRolePermission', `roleid=${roleId}`, 'rule=createNetwork', 'permission=deny'])).code, 0);
  const all = await asAdmin(['createRolePermission', `roleid=${roleId}`, 'rule=*', 'permission=allow', 'description=the rest']);
  t.is(all.code, 0, all.err);
  t.like(all.out.rolepermission, { roleid: roleId, rolename: 'No networks', rule: '*', permission: 'allow' });

  const acc = await asAdmin(['createAccount', 'username=carol', 'account=carol', 'password=pw-carol-1', 'email=carol@example.org', 'firstname=C', 'lastname=R', `roleid=${roleId}`]);
  t.is(acc.code, 0, acc.err);
  t.like(acc.out.account, { roleid: roleId, rolename: 'No networks', roletype: 'User', accounttype: 0 });
  const keys = (await asAdmin(['registerUserKeys', `id=${acc.out.account.user[0].id}`])).out.userkeys;
  const carol = (args: string[]) => run(keys.apikey, keys.secretkey, args);

  const offerings = await carol(['listNetworkOfferings']);
  t.is(offerings.code, 0, offerings.err);
  t.true(offerings.out.count > 0);
  const denied = await carol(['createNetwork', 'name=n1', 'displaytext=n1', 'networkofferingid=6f0d1a3e-0000-4000-8000-00000000aaaa', `zoneid=${'6f0d1a3e-0000-4000-8000-00000000bbbb'}`]);
  // As CloudStack's ApiServlet: a command the caller may not call answers like an unknown one.
  t.is(denied.out?.errorresponse?.errorcode, 432, JSON.stringify(denied.out));
  t.regex(denied.out.errorresponse.errortext, /createNetwork does not exist or it is not available/);
  const apis = (await carol(['listApis'])).out.api.map((a: any) => a.name);
  t.false(apis.includes('createNetwork'));
  t.true(apis.includes('listNetworks') && apis.includes('deleteNetwork'));
  t.false(apis.includes('createZone'), 'a custom User role never gets more than its type');

  // Moving the deny below the allow lets it through (ruleorder), at once.
  const perms = (await asAdmin(['listRolePermissions', `roleid=${roleId}`])).out.rolepermission;
  t.deepEqual(perms.map((p: any) => p.rule), ['createNetwork', '*']);
  const moved = await asAdmin(['updateRolePermission', `roleid=${roleId}`, `ruleorder=${perms[1].id},${perms[0].id}`]);
  t.is(moved.code, 0, moved.err);
  t.true((await carol(['listApis'])).out.api.some((a: any) => a.name === 'createNetwork'));
  // … and flipping the `*` rule to deny takes everything away but nothing else changes.
  t.is((await asAdmin(['updateRolePermission', `roleid=${roleId}`, `ruleid=${perms[1].id}`, 'permission=deny'])).code, 0);
  t.is((await carol(['listNetworkOfferings'])).out?.errorresponse?.errorcode, 432);

  // A role in use cannot go; the account back on the built-in User role, then it can.
  const inUse = await asAdmin(['deleteRole', `id=${roleId}`]);
  t.is(inUse.out?.deleteroleresponse?.errorcode, 536, JSON.stringify(inUse.out));
  t.is((await asAdmin(['updateAccount', `id=${acc.out.account.id}`, 'roleid=6f0d1a3e-0000-4000-8000-000000000004'])).code, 0);
  t.is((await carol(['listNetworkOfferings'])).code, 0);
  t.is((await asAdmin(['deleteRole', `id=${roleId}`])).code, 0);
  t.deepEqual(await admin.ok('listRolePermissions', { roleid: roleId }), {}, 'its rules went with it');
});

eachDialect('importRole, cloning and the built-in roles\' guards; bad input is refused and writes nothing', async (t, dialect) => {
  const { admin, db } = await startManager(t, dialect);
  const imported = (await admin.ok('importRole', {
    name: 'Readers', type: 'User', description: 'read only',
    'rules[0].rule': 'list*', 'rules[0].permission': 'allow', 'rules[1].rule': 'queryAsyncJobResult', 'rules[1].permission': 'ALLOW', 'rules[2].rule': '*', 'rules[2].permission': 'deny',
  })).role;
  const rules = (await admin.ok('listRolePermissions', { roleid: imported.id })).rolepermission;
  t.deepEqual(rules.map((r: any) => [r.rule, r.permission]), [['list*', 'allow'], ['queryAsyncJobResult', 'allow'], ['*', 'deny']]);
  const again = await admin.call('importRole', { name: 'readers', type: 'User', 'rules[0].rule': '*', 'rules[0].permission': 'allow' });
  t.is(again.status, 431, 'a role of that name exists (names are case-insensitive)');
  const forced = (await admin.ok('importRole', { name: 'Readers', type: 'User', forced: true, 'rules[0].rule': 'list*', 'rules[0].permission': 'allow' })).role;
  t.is(forced.id, imported.id);
  t.is((await admin.ok('listRolePermissions', { roleid: imported.id })).rolepermission.length, 1);
  const clone = (await admin.ok('createRole', { name: 'Readers 2', roleid: imported.id })).role;
  t.like(clone, { type: 'User', name: 'Readers 2' });
  t.deepEqual((await admin.ok('listRolePermissions', { roleid: clone.id })).rolepermission.map((r: any) => r.rule), ['list*']);
  t.is((await admin.ok('listRoles', { type: 'User' })).role.length, 3);
  t.is((await admin.ok('listRoles', { name: 'readers 2' })).role[0].id, clone.id);

  const count = async () => (await db.query<{ n: number }>('SELECT (SELECT count(*) FROM roles) + (SELECT count(*) FROM role_permissions) AS n'))[0]!.n;
  const before = await count();
  const refused: Array<[string, Record<string, string>, number, RegExp]> = [
    ['createRole', { name: 'x' }, 431, /Either the role type or the id of a role to clone/],
    ['createRole', { name: 'x', type: 'Superuser' }, 431, /type value=Superuser/],
    ['createRole', { name: 'x', type: 'ResourceAdmin' }, 431, /not supported yet/],
    ['createRole', { name: 'User', type: 'User' }, 431, /already exists/],
    ['createRolePermission', { roleid: clone.id, rule: 'list;drop', permission: 'allow' }, 431, /only API names and wildcards/],
    ['createRolePermission', { roleid: clone.id, rule: 'listZones', permission: 'maybe' }, 431, /allow or deny/],
    ['createRolePermission', { roleid: clone.id, rule: 'list*', permission: 'allow' }, 431, /already exists/],
    ['createRolePermission', { roleid: '6f0d1a3e-0000-4000-8000-000000000001', rule: 'createZone', permission: 'deny' }, 431, /Root Admin role/],
    ['createRolePermission', { roleid: '00000000-0000-4000-8000-000000000999', rule: 'x', permission: 'allow' }, 431, /Invalid parameter roleid value=00000000-0000-4000-8000-000000000999 due to incorrect long value format, or entity does not exist/],
    ['updateRole', { id: '6f0d1a3e-0000-4000-8000-000000000004', name: 'Users' }, 431, /Default roles cannot be updated/],
    ['deleteRole', { id: '6f0d1a3e-0000-4000-8000-000000000002' }, 431, /Default roles cannot be deleted/],
    ['updateRolePermission', { roleid: clone.id }, 431, /Either ruleorder, or ruleid with permission/],
    ['updateRolePermission', { roleid: clone.id, ruleorder: '00000000-0000-4000-8000-000000000999' }, 431, /every rule of role/],
    ['importRole', { name: 'y', type: 'User', 'rules[0].rule': 'list*' }, 431, /needs rule and permission/],
  ];
  for (const [cmd, params, code, text] of refused) {
    const r = await admin.call(cmd, params);
    t.is(r.status, code, `${cmd} ${JSON.stringify(params)}: ${JSON.stringify(r.body)}`);
    t.regex(String(r.body.errortext), text, cmd);
  }
  t.is(await count(), before, 'refused calls wrote nothing');

  // Role commands are the root admin's: a domain admin lists the roles it could give, no more.
  const dom = (await admin.ok('createDomain', { name: 'd1' })).domain;
  const da = (await admin.ok('createAccount', { username: 'dadm', account: 'dadm', password: 'pw-dadm-1', email: 'd@example.org', firstname: 'D', lastname: 'A', accounttype: 2, domainid: dom.id })).account;
  const k = (await admin.ok('registerUserKeys', { id: da.user[0].id })).userkeys;
  const dadmin = signedClient(admin.url, k.apikey, k.secretkey);
  t.deepEqual((await dadmin.ok('listRoles')).role.map((r: any) => r.type).sort(), ['DomainAdmin', 'User', 'User', 'User']);
  t.is((await dadmin.call('createRole', { name: 'z', type: 'User' })).status, 432);
});
