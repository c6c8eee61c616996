// Kernel test of VPC network ACLs and security groups: a router namespace with two tier
// namespaces; real TCP decides. ACL first-match order (a deny numbered before an overlapping
// allow), implicit deny, and a security group by group membership.
import test from 'ava';
import { Lab, kernelTestsUnavailable } from '@flotilla/tests/lab';
import { emptyFirewallSpec, type FirewallSpec } from '@flotilla/protocol/firewall';
import { compile } from '../src/compile.ts';
import { NftApplier } from '../src/apply.ts';
import { tcpPeerServer, tcpProbe } from './helpers/topology.ts';
import { uid } from './fixtures/specs.ts';

const skip = kernelTestsUnavailable();
const ktest = skip ? test.skip : test.serial;

let lab: Lab;
let router: string, web: string, db: string;
let fw: NftApplier;

test.before(async () => {
  if (skip) return;
  lab = Lab.create(undefined, 'fwv');
  [router, web, db] = await Promise.all([lab.netns('rtr'), lab.netns('web'), lab.netns('db')]);
  await lab.veth(router, 'tier1', web, 'eth0');
  await lab.veth(router, 'tier2', db, 'eth0');
  await lab.exec(router, ['ip', 'addr', 'add', '10.2.1.1/24', 'dev', 'tier1']);
  await lab.exec(router, ['ip', 'addr', 'add', '10.2.2.1/24', 'dev', 'tier2']);
  await lab.exec(web, ['ip', 'addr', 'add', '10.2.1.5/24', 'dev', 'eth0']);
  await lab.exec(web, ['ip', 'addr', 'add', '10.2.1.6/24', 'dev', 'eth0']);
  await lab.exec(db, ['ip', 'addr', 'add', '10.2.2.5/24', 'dev', 'eth0']);
  await lab.exec(web, ['ip', 'route', 'add', 'default', 'via', '10.2.1.1']);
  await lab.exec(db, ['ip', 'route', 'add', 'default', 'via', '10.2.2.1']);
  await lab.exec(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await Promise.all([tcpPeerServer(lab, db, 5432), tcpPeerServer(lab, db, 5433), tcpPeerServer(lab, db, 22), tcpPeerServer(lab, web, 8080)]);
  fw = new NftApplier({ netns: router });
});
test.after.always(async () => { if (lab) await lab.cleanup(); });

function vpcSpec(): FirewallSpec {
  return {
    ...emptyFirewallSpec(),
    guestNetworks: [
      { id: 'web', interface: 'tier1', cidrs: ['10.2.1.0/24'], aclListId: 'acl-web' },
      { id: 'db', interface: 'tier2', cidrs: ['10.2.2.0/24'], aclListId: 'acl-db' },
    ],
    aclLists: [
      { id: 'acl-web', rules: [
        { id: uid(1), number: 1, action: 'allow', direction: 'egress', protocol: 'all', cidrs: [] },
        { id: uid(2), number: 1, action: 'allow', direction: 'ingress', protocol: 'tcp', ports: { start: 8080, end: 8080 }, cidrs: ['10.2.2.0/24'] },
      ] },
      { id: 'acl-db', rules: [
        // First match wins: .6 is denied by rule 10 although rule 20 allows its whole tier.
        { id: uid(10), number: 10, action: 'deny', direction: 'ingress', protocol: 'tcp', ports: { start: 5432, end: 5432 }, cidrs: ['10.2.1.6/32'] },
        { id: uid(11), number: 20, action: 'allow', direction: 'ingress', protocol: 'tcp', ports: { start: 5432, end: 5432 }, cidrs: ['10.2.1.0/24'] },
        { id: uid(12), number: 30, action: 'allow', direction: 'ingress', protocol: 'tcp', ports: { start: 22, end: 22 }, cidrs: ['10.2.1.5/32'] },
        // No egress rules: replies are established traffic; new connections out of db are denied.
      ] },
    ],
  };
}

ktest('ACL: first match wins, implicit deny, per tier and direction', async (t) => {
  await fw.apply(compile(vpcSpec()));
  t.is(await tcpProbe(lab, web, '10.2.2.5', 5432, '10.2.1.5'), '10.2.1.5');
  t.is(await tcpProbe(lab, web, '10.2.2.5', 5432, '10.2.1.6'), null, 'deny 10 before allow 20');
  t.is(await tcpProbe(lab, web, '10.2.2.5', 5433, '10.2.1.5'), null, 'implicit deny');
  t.is(await tcpProbe(lab, web, '10.2.2.5', 22, '10.2.1.5'), '10.2.1.5');
  t.is(await tcpProbe(lab, web, '10.2.2.5', 22, '10.2.1.6'), null);
  t.is(await tcpProbe(lab, db, '10.2.1.5', 8080), null, 'db has no egress rule');
  const c = await fw.counters();
  t.true((c[uid(10)]?.packets ?? 0) >= 1, JSON.stringify(c));
  t.true((c[uid(11)]?.packets ?? 0) >= 1);
});

ktest('ACL: reordering by number changes the verdict (element/shape update)', async (t) => {
  const s = vpcSpec();
  s.aclLists[1]!.rules[0]!.number = 25; // the deny now comes after the allow
  s.aclLists[0]!.rules.push({ id: uid(3), number: 2, action: 'allow', direction: 'ingress', protocol: 'all', cidrs: [] });
  s.aclLists[1]!.rules.push({ id: uid(13), number: 40, action: 'allow', direction: 'egress', protocol: 'all', cidrs: [] });
  await fw.apply(compile(s));
  t.is(await tcpProbe(lab, web, '10.2.2.5', 5432, '10.2.1.6'), '10.2.1.6');
  t.is(await tcpProbe(lab, db, '10.2.1.5', 8080), '10.2.2.5');
});

ktest('security groups: ingress by group membership, others refused', async (t) => {
  const s: FirewallSpec = {
    ...emptyFirewallSpec(),
    securityGroups: [
      { id: 'sg-app', rules: [] },
      { id: 'sg-db', rules: [{ id: uid(20), direction: 'ingress', protocol: 'tcp', ports: { start: 5432, end: 5432 }, cidrs: [], groupIds: ['sg-app'] }] },
    ],
    securityGroupMembers: [
      { id: 'nic-app', addresses: ['10.2.1.5'], groupIds: ['sg-app'] },
      { id: 'nic-db', addresses: ['10.2.2.5'], groupIds: ['sg-db'] },
    ],
  };
  s.securityGroups[0]!.rules.push({ id: uid(21), direction: 'ingress', protocol: 'tcp', ports: { start: 8080, end: 8080 }, cidrs: ['0.0.0.0/0'], groupIds: [] });
  await fw.apply(compile(s));
  t.is(await tcpProbe(lab, web, '10.2.2.5', 5432, '10.2.1.5'), '10.2.1.5', 'member of sg-app');
  t.is(await tcpProbe(lab, web, '10.2.2.5', 5432, '10.2.1.6'), null, 'not a member');
  t.is(await tcpProbe(lab, web, '10.2.2.5', 22, '10.2.1.5'), null, 'no rule for 22');
  t.is(await tcpProbe(lab, db, '10.2.1.5', 8080), '10.2.2.5');
});
