// CloudStack's detectRulesConflict as a pure function: which pairs of rules conflict, and the
// exact texts clients match on (the API path is driven in tests/test/api-semantics.test.ts).
import test from 'ava';
import { detectRulesConflict, type RuleFacts } from '../src/commands/network/conflicts.ts';

const base: RuleFacts = { id: 'new', purpose: 'Firewall', networkId: 'n1', ipAddressId: 'ip1', protocol: 'tcp', start: 80, end: 80, icmpType: null, icmpCode: null, sources: ['0.0.0.0/0'], dests: [] };
const rule = (o: Partial<RuleFacts>): RuleFacts => ({ ...base, id: 'old', ...o });

test('firewall rules: the same ports and CIDRs conflict; other CIDRs or another protocol do not', (t) => {
  t.deepEqual(detectRulesConflict(base, [rule({ start: 70, end: 90 })]), { code: 537, text: 'The range specified, 80-80, conflicts with rule old which has 70-90', ruleId: 'old' });
  t.is(detectRulesConflict(base, [rule({ sources: ['192.0.2.0/24'] })]), undefined, 'CloudStack lets rules for other CIDRs overlap');
  t.is(detectRulesConflict(base, [rule({ protocol: 'udp' })]), undefined);
  t.is(detectRulesConflict(base, [rule({ start: 81, end: 90 })]), undefined);
  t.is(detectRulesConflict(base, [{ ...base }]), undefined, 'the rule itself is skipped');
});

test('no ports, ICMP, port forwards, static NAT: CloudStack\'s texts', (t) => {
  const all = { ...base, protocol: 'all', start: null, end: null };
  t.is(detectRulesConflict(all, [rule({ protocol: 'all', start: null, end: null })])?.text, 'There is already a firewall rule specified with protocol = all and no ports');
  const icmp = { ...base, protocol: 'icmp', start: null, end: null, icmpType: 8, icmpCode: 0 };
  t.deepEqual(detectRulesConflict(icmp, [rule({ protocol: 'icmp', start: null, end: null, icmpType: 8, icmpCode: 0 })]), { code: 431, text: 'New rule conflicts with existing rule id=old', ruleId: 'old' });
  t.is(detectRulesConflict(icmp, [rule({ protocol: 'icmp', start: null, end: null, icmpType: 0, icmpCode: 0 })]), undefined);
  const pf = { ...base, purpose: 'PortForwarding' as const };
  t.is(detectRulesConflict(pf, [rule({ purpose: 'PortForwarding', start: 80, end: 81 })])?.text, 'The range specified, 80-80, conflicts with rule old which has 80-81');
  t.is(detectRulesConflict(pf, [rule({ purpose: 'PortForwarding', protocol: 'udp' })]), undefined, 'the same ports with another protocol may be forwarded');
  t.is(detectRulesConflict(pf, [rule({})]), undefined, 'a forward and a firewall rule on the same ports go together');
  t.is(detectRulesConflict(pf, [rule({ purpose: 'StaticNat', start: 1000, end: 1000 })])?.text, 'There is 1 to 1 Nat rule specified for the ip address id=ip1');
  t.is(detectRulesConflict({ ...base, purpose: 'StaticNat' }, [rule({ purpose: 'PortForwarding', start: 1000, end: 1000 })])?.text, 'There is already firewall rule specified for the ip address id=ip1');
});
