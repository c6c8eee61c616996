#!/usr/bin/python3
"""libcloud's CloudStack compute driver (Debian python3-libcloud, unchanged) through a whole
cycle against a Flotilla manager: networks, key pairs, create_node with ex_start_vm, list_nodes,
reboot, public IPs, firewall and egress rules, port forwarding, IP forwarding (static NAT),
volumes, tags, and every delete. Each step prints one JSON line {"step", ...}; the first failure
prints {"step", "error"} and exits 1. Environment: tests/clients/README.md."""
import json
import os
import sys
import traceback

from libcloud.compute.providers import get_driver
from libcloud.compute.types import NodeState, Provider

E = os.environ


def step(name, fn):
    try:
        out = fn()
    except Exception as e:  # report which step and what the client raised, then stop
        print(json.dumps({'step': name, 'error': '%s: %s' % (type(e).__name__, e)}), flush=True)
        traceback.print_exc()
        sys.exit(1)
    print(json.dumps({'step': name, 'ok': True, **(out or {})}), flush=True)
    return out


def check(cond, what):
    if not cond:
        raise AssertionError(what)


cls = get_driver(Provider.CLOUDSTACK)
d = cls(key=E['CLOUDSTACK_KEY'], secret=E['CLOUDSTACK_SECRET'], url=E['CLOUDSTACK_ENDPOINT'], secure=False)
s = {}


def locations():
    locs = d.list_locations()
    s['zone'] = next(l for l in locs if l.name == E['FLT_ZONE'])
    return {'zones': [l.name for l in locs]}


def catalogue():
    s['size'] = next(z for z in d.list_sizes() if z.name == E['FLT_OFFERING'])
    s['image'] = next(i for i in d.list_images(location=s['zone']) if i.name == E['FLT_TEMPLATE'])
    s['offering'] = next(o for o in d.ex_list_network_offerings() if o.name == E['FLT_NETWORK_OFFERING'])
    return {'size': s['size'].id, 'image': s['image'].id, 'networkoffering': s['offering'].id}


def network():
    n = d.ex_create_network(display_text='libcloud network', name='lc-net', network_offering=s['offering'], location=s['zone'])
    s['net'] = n
    check(any(x.id == n.id and x.name == 'lc-net' for x in d.ex_list_networks()), 'ex_list_networks shows lc-net')
    return {'network': n.id}


def keypair():
    kp = d.create_key_pair('lc-key')
    check('PRIVATE KEY' in (kp.private_key or ''), 'createSSHKeyPair answered a private key')
    check(d.get_key_pair('lc-key').fingerprint == kp.fingerprint, 'get_key_pair finds it with the same fingerprint')
    check('lc-key' in [k.name for k in d.list_key_pairs()], 'list_key_pairs lists lc-key')
    s['kp'] = kp
    return {'fingerprint': kp.fingerprint}


def create_node():
    n = d.create_node(name='lc-vm1', size=s['size'], image=s['image'], location=s['zone'], networks=[s['net']],
                      ex_keyname='lc-key', ex_start_vm=True, ex_userdata='#cloud-config\n')
    check(n.state == NodeState.RUNNING, 'deployed with ex_start_vm=True: Running (got %s)' % n.state)
    check(len(n.private_ips) == 1, 'one private address on the isolated network (%s)' % n.private_ips)
    s['node'] = n
    return {'node': n.id, 'private_ips': n.private_ips}


def list_nodes():
    nodes = d.list_nodes()
    n = next(x for x in nodes if x.id == s['node'].id)
    check(n.name == 'lc-vm1' and n.state == NodeState.RUNNING, 'list_nodes: lc-vm1 Running')
    check(n.private_ips == s['node'].private_ips, 'same private address')
    check(d.ex_get_node(s['node'].id).id == s['node'].id, 'ex_get_node finds it')
    s['node'] = n
    return {'nodes': len(nodes)}


def reboot():
    check(d.reboot_node(s['node']) is True, 'reboot_node answered True')
    n = d.ex_get_node(s['node'].id)
    check(n.state == NodeState.RUNNING, 'Running after reboot (got %s)' % n.state)


def stop_start():
    d.ex_stop(s['node'])
    check(d.ex_get_node(s['node'].id).state == NodeState.STOPPED, 'Stopped after ex_stop')
    d.ex_start(s['node'])
    check(d.ex_get_node(s['node'].id).state == NodeState.RUNNING, 'Running after ex_start')


def resize():
    # scaleVirtualMachine of a stopped node to the next offering, and back
    bigger = next(z for z in d.list_sizes() if z.name == 'Medium Instance')
    d.ex_stop(s['node'])
    check(d.ex_change_node_size(s['node'], bigger) == bigger.id, 'scaleVirtualMachine answered the new offering')
    check(d.ex_get_node(s['node'].id).extra.get('size_id') == bigger.id, 'the node has the new offering')
    check(d.ex_change_node_size(s['node'], s['size']) == s['size'].id, 'and back')
    d.ex_start(s['node'])
    check(d.ex_get_node(s['node'].id).state == NodeState.RUNNING, 'Running again')


def account_views():
    # what libcloud users read about their account: none of these may be an unknown command
    limits = d.ex_limits()
    check('max_instances' in limits and 'max_volumes' in limits, 'ex_limits maps listResourceLimits (%s)' % limits)
    check(any(o.get('description') for o in d.ex_list_os_types()), 'ex_list_os_types lists OS types')
    check(d.ex_list_security_groups() == [], 'no security groups in an advanced zone')
    check(d.ex_list_affinity_groups() == [], 'no affinity groups')
    check(d.ex_list_projects() == [], 'no projects')
    return {'limits': limits}


def public_ips():
    a = d.ex_allocate_public_ip(network_id=s['net'].id, location=s['zone'])
    b = d.ex_allocate_public_ip(network_id=s['net'].id, location=s['zone'])
    listed = {x.id: x.address for x in d.ex_list_public_ips()}
    check(listed.get(a.id) == a.address and listed.get(b.id) == b.address, 'ex_list_public_ips shows both: %s' % listed)
    s['pf_ip'], s['nat_ip'] = a, b
    return {'addresses': [a.address, b.address]}


def firewall():
    r = d.ex_create_firewall_rule(s['pf_ip'], '0.0.0.0/0', 'tcp', start_port=8080, end_port=8080)
    rules = d.ex_list_firewall_rules()
    check(any(x.id == r.id and x.address.address == s['pf_ip'].address and str(x.start_port) == '8080' for x in rules),
          'ex_list_firewall_rules shows the rule on its address')
    s['fw'] = r
    e = d.ex_create_egress_firewall_rule(s['net'].id, s['node'].private_ips[0] + '/32', 'tcp', start_port=80, end_port=80)
    check(any(x.id == e.id for x in d.ex_list_egress_firewall_rules()), 'ex_list_egress_firewall_rules shows the egress rule')
    s['egress'] = e
    return {'firewallrule': r.id, 'egressrule': e.id}


def port_forwarding():
    # libcloud's default openfirewall=True: CloudStack opens the public port with a firewall rule
    # of the forward's own, listed with the others and removed with the forward
    r = d.ex_create_port_forwarding_rule(s['node'], s['pf_ip'], private_port=22, public_port=2222, protocol='tcp')
    check(any(x.id == r.id for x in d.ex_list_port_forwarding_rules()), 'ex_list_port_forwarding_rules shows it')
    opened = [x for x in d.ex_list_firewall_rules() if x.address.address == s['pf_ip'].address and str(x.start_port) == '2222']
    check(len(opened) == 1, 'openfirewall=True added a firewall rule for port 2222 (%d)' % len(opened))
    n = next(x for x in d.list_nodes() if x.id == s['node'].id)
    check([x.id for x in n.extra['port_forwarding_rules']] == [r.id], 'list_nodes attaches the rule to the node')
    check(s['pf_ip'].address in n.public_ips, 'and the rule\'s address to its public_ips')
    s['pf'] = r
    return {'portforwardingrule': r.id}


def ip_forwarding():
    # CloudStack creates IP forwarding (static NAT) rules only on an address with static NAT
    # enabled; libcloud has no wrapper for enableStaticNat, so it goes through its own request path.
    d._sync_request('enableStaticNat', params={'ipaddressid': s['nat_ip'].id, 'virtualmachineid': s['node'].id}, method='GET')
    n = next(x for x in d.list_nodes() if x.id == s['node'].id)
    check(s['nat_ip'].address in n.public_ips, 'list_nodes: the static NAT address is a public IP of the node (%s)' % n.public_ips)
    r = d.ex_create_ip_forwarding_rule(n, s['nat_ip'], 'tcp', 1000, 2000)
    rules = d.ex_list_ip_forwarding_rules()
    check(any(x.id == r.id and x.address.address == s['nat_ip'].address for x in rules), 'ex_list_ip_forwarding_rules shows it')
    n = next(x for x in d.list_nodes() if x.id == s['node'].id)
    check(r.id in [x.id for x in n.extra['ip_forwarding_rules']], 'list_nodes attaches it to the node')
    s['ipf'], s['node'] = r, n
    return {'ipforwardingrule': r.id}


def volumes():
    root = d.list_volumes(node=s['node'])
    check([v.extra.get('volume_type') for v in root] == ['ROOT'], 'the node has one ROOT volume (%s)' % [v.extra for v in root])
    v = d.create_volume(size=1, name='lc-data', location=s['zone'])
    check(d.attach_volume(s['node'], v) is True, 'attach_volume')
    attached = d.list_volumes(node=s['node'])
    check(sorted(x.extra.get('volume_type') for x in attached) == ['DATADISK', 'ROOT'], 'ROOT and DATADISK on the node')
    check(d.ex_get_volume(v.id).name == 'lc-data', 'ex_get_volume finds it')
    check(d.detach_volume(v) is True, 'detach_volume')
    check(len(d.list_volumes(node=s['node'])) == 1, 'only ROOT after detach')
    check(d.destroy_volume(v) is True, 'destroy_volume')
    check(all(x.id != v.id for x in d.list_volumes()), 'gone from list_volumes')
    return {'root': root[0].id, 'data': v.id}


def tags():
    d.ex_create_tags([s['node'].id], 'UserVm', {'team': 'blue', 'tier': 'web'})
    n = d.ex_get_node(s['node'].id)
    check(n.extra.get('tags') == {'team': 'blue', 'tier': 'web'}, 'node tags (%s)' % n.extra.get('tags'))
    d.ex_delete_tags([s['node'].id], 'UserVm', ['tier'])
    check(d.ex_get_node(s['node'].id).extra.get('tags') == {'team': 'blue'}, 'one tag left')


def teardown():
    check(d.ex_delete_ip_forwarding_rule(s['node'], s['ipf']) is True, 'ex_delete_ip_forwarding_rule')
    check(all(x.id != s['ipf'].id for x in d.ex_list_ip_forwarding_rules()), 'IP forwarding rule gone')
    check(d.ex_delete_port_forwarding_rule(s['node'], s['pf']) is True, 'ex_delete_port_forwarding_rule')
    check(not [x for x in d.ex_list_firewall_rules() if x.address.address == s['pf_ip'].address and str(x.start_port) == '2222'],
          'the forward\'s firewall rule went with it')
    check(d.ex_delete_firewall_rule(s['fw']) is True, 'ex_delete_firewall_rule')
    check(d.ex_delete_egress_firewall_rule(s['egress']) is True, 'ex_delete_egress_firewall_rule')
    d._async_request('disableStaticNat', params={'ipaddressid': s['nat_ip'].id}, method='GET')
    for a in (s['pf_ip'], s['nat_ip']):
        check(d.ex_release_public_ip(a) is True, 'ex_release_public_ip %s' % a.address)
    check(d.destroy_node(s['node'], ex_expunge=True) is True, 'destroy_node')
    check(all(x.id != s['node'].id for x in d.list_nodes()), 'the node is gone from list_nodes')
    check(d.ex_delete_network(s['net']) is True, 'ex_delete_network')
    # libcloud returns res['success'] == 'true' (the string of CloudStack before 4.x's Gson
    # serializer); CloudStack 4.18 answers a boolean, as Flotilla does, so only the list tells.
    d.delete_key_pair(s['kp'])
    check('lc-key' not in [k.name for k in d.list_key_pairs()], 'lc-key is gone from list_key_pairs')


for name, fn in [('locations', locations), ('catalogue', catalogue), ('network', network), ('keypair', keypair),
                 ('create_node', create_node), ('list_nodes', list_nodes), ('reboot', reboot), ('stop_start', stop_start), ('resize', resize), ('account_views', account_views),
                 ('public_ips', public_ips), ('firewall', firewall), ('port_forwarding', port_forwarding),
                 ('ip_forwarding', ip_forwarding), ('volumes', volumes), ('tags', tags), ('teardown', teardown)]:
    step(name, fn)
print(json.dumps({'step': 'done', 'ok': True}), flush=True)
