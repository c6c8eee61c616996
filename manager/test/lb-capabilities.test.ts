// The Lb capabilities listNetworks shows, in CloudStack's exact form (the real-client test is
// tests/test/clients-go-lb.test.ts, where go-cloudstack parses them). Pure: no database.
import test from 'ava';
import { networkServicesView, SUPPORTED_STICKINESS_METHODS } from '../src/commands/offerings/element-capabilities.ts';

test('listNetworks services: the router\'s capabilities per service as CloudStack\'s VirtualRouterElement lists them, Gateway skipped', (t) => {
  const view = networkServicesView({ Dhcp: ['VirtualRouter'], Lb: ['VirtualRouter'], Gateway: ['VirtualRouter'], UserData: ['VirtualRouter'], PortForwarding: ['VirtualRouter'] });
  t.deepEqual(view.map((s) => s.name), ['Dhcp', 'Lb', 'UserData', 'PortForwarding']);
  t.is(view[0]!.capability, undefined, 'services without capabilities have no capability list');
  const lb = Object.fromEntries((view[1]!.capability as Array<{ name: string; value: string }>).map((c) => [c.name, c.value]));
  t.deepEqual(Object.keys(lb), ['SupportedLBAlgorithms', 'SupportedLBIsolation', 'SupportedProtocols', 'SupportedStickinessMethods', 'LbSchemes']);
  t.like(lb, { SupportedLBAlgorithms: 'roundrobin,leastconn,source', SupportedLBIsolation: 'dedicated', SupportedProtocols: 'tcp, udp, tcp-proxy, ssl', LbSchemes: 'Public' });
  t.deepEqual(view[1]!.provider, [{ name: 'VirtualRouter' }]);
  t.deepEqual((view[3]!.capability as Array<{ name: string; value: string }>), [{ name: 'SupportedProtocols', value: 'tcp,udp' }]);
});

test('SupportedStickinessMethods is a JSON string shaped as Gson writes CloudStack\'s LbStickinessMethod list', (t) => {
  t.is(typeof SUPPORTED_STICKINESS_METHODS, 'string');
  const methods = JSON.parse(SUPPORTED_STICKINESS_METHODS) as Array<Record<string, any>>;
  t.deepEqual(methods.map((m) => m.methodname), ['LbCookie', 'AppCookie', 'SourceBased']);
  t.deepEqual(Object.keys(methods[0]!), ['methodname', 'paramlist', 'description'], 'Gson writes fields in declaration order');
  t.deepEqual(methods[0]!.paramlist[2], { paramname: 'nocache', required: false, isflag: true, description: ' ' });
  t.deepEqual(methods[2]!.paramlist.map((p: { paramname: string }) => p.paramname), ['tablesize', 'expire']);
  t.is(methods[2]!.description, 'This is source based Stickiness method, it can be used for any type of protocol.');
});
