// Load balancing through go-cloudstack as Debian ships it (golang-github-xanzy-go-cloudstack-dev),
// unchanged: the calls of the Terraform provider's cloudstack_loadbalancer_rule resource
// (apache/cloudstack-terraform-provider, resource_cloudstack_loadbalancer_rule.go: create with
// openfirewall=false, assign member_ids, read the rule and its instances, update name /
// description / algorithm, member changes as assign + remove, delete, delete of a gone id), plus
// what the provider leaves to other tools: stickiness and health-check policies, the lbvmips
// view, and the Lb capabilities of listNetworks / listNetworkOfferings that clients read to know
// which algorithms, protocols and stickiness methods they may ask for. Each step prints one JSON
// line {"step", ...}; the first failure prints {"step", "error"} and exits 1.
// Environment: tests/clients/README.md.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/xanzy/go-cloudstack/cloudstack"
)

var cs *cloudstack.CloudStackClient

func step(name string, fn func() (map[string]interface{}, error)) {
	out, err := fn()
	if err != nil {
		b, _ := json.Marshal(map[string]interface{}{"step": name, "error": err.Error()})
		fmt.Println(string(b))
		os.Exit(1)
	}
	rec := map[string]interface{}{"step": name, "ok": true}
	for k, v := range out {
		rec[k] = v
	}
	b, _ := json.Marshal(rec)
	fmt.Println(string(b))
}

func sorted(xs []string) string {
	c := append([]string(nil), xs...)
	sort.Strings(c)
	return strings.Join(c, ",")
}

// stickinessMethod is one element of SupportedStickinessMethods (CloudStack's LbStickinessMethod
// as Gson writes it); the capability's value is a JSON string a client parses itself.
type stickinessMethod struct {
	Methodname string `json:"methodname"`
	Paramlist  []struct {
		Paramname string `json:"paramname"`
		Required  bool   `json:"required"`
		Isflag    bool   `json:"isflag"`
	} `json:"paramlist"`
	Description string `json:"description"`
}

func main() {
	e := os.Getenv
	cs = cloudstack.NewAsyncClient(e("CLOUDSTACK_ENDPOINT"), e("CLOUDSTACK_KEY"), e("CLOUDSTACK_SECRET"), false)
	cs.AsyncTimeout(120)
	var zoneID, offeringID, templateID, netOfferingID, netID, ipID, lbID, stickyID, hcID string
	var vmIDs []string

	step("retrieve_ids", func() (map[string]interface{}, error) {
		var err error
		if zoneID, _, err = cs.Zone.GetZoneID(e("FLT_ZONE")); err != nil {
			return nil, err
		}
		if netOfferingID, _, err = cs.NetworkOffering.GetNetworkOfferingID(e("FLT_NETWORK_OFFERING")); err != nil {
			return nil, err
		}
		if templateID, _, err = cs.Template.GetTemplateID(e("FLT_TEMPLATE"), "executable", zoneID); err != nil {
			return nil, err
		}
		p := cs.ServiceOffering.NewListServiceOfferingsParams()
		p.SetName(e("FLT_OFFERING"))
		l, err := cs.ServiceOffering.ListServiceOfferings(p)
		if err != nil {
			return nil, err
		}
		if l.Count != 1 {
			return nil, fmt.Errorf("found %d service offering(s) named %s", l.Count, e("FLT_OFFERING"))
		}
		offeringID = l.ServiceOfferings[0].Id
		return map[string]interface{}{"zone": zoneID}, nil
	})

	// The offering's Lb capabilities (ApiResponseHelper.createNetworkOfferingResponse shows
	// SupportedLBIsolation, ElasticLb and InlineMode for Lb).
	step("offering_capabilities", func() (map[string]interface{}, error) {
		o, _, err := cs.NetworkOffering.GetNetworkOfferingByID(netOfferingID)
		if err != nil {
			return nil, err
		}
		for _, s := range o.Service {
			if s.Name != "Lb" {
				continue
			}
			got := map[string]string{}
			for _, c := range s.Capability {
				got[c.Name] = c.Value
			}
			want := map[string]string{"SupportedLBIsolation": "dedicated", "ElasticLb": "false", "InlineMode": "false"}
			if len(got) != len(want) {
				return nil, fmt.Errorf("offering Lb capabilities %v, want %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					return nil, fmt.Errorf("offering Lb capability %s=%q, want %q", k, got[k], v)
				}
			}
			return map[string]interface{}{"lb": got}, nil
		}
		return nil, fmt.Errorf("offering %s has no Lb service", netOfferingID)
	})

	// The network's Lb capabilities (the router element's: algorithms, protocols, stickiness).
	step("network_capabilities", func() (map[string]interface{}, error) {
		r, err := cs.Network.CreateNetwork(cs.Network.NewCreateNetworkParams("lb-net", "lb-net", netOfferingID, zoneID))
		if err != nil {
			return nil, err
		}
		netID = r.Id
		n, count, err := cs.Network.GetNetworkByID(netID, cloudstack.WithProject(""))
		if err != nil || count != 1 {
			return nil, fmt.Errorf("read network: count %d, %v", count, err)
		}
		caps := map[string]string{}
		for _, s := range n.Service {
			if s.Name == "Gateway" {
				return nil, fmt.Errorf("listNetworks shows the Gateway service; CloudStack skips it")
			}
			if s.Name == "Lb" {
				if len(s.Provider) != 1 || s.Provider[0].Name != "VirtualRouter" {
					return nil, fmt.Errorf("Lb providers %+v", s.Provider)
				}
				for _, c := range s.Capability {
					caps[c.Name] = c.Value
				}
			}
		}
		algos := strings.Split(caps["SupportedLBAlgorithms"], ",")
		if sorted(algos) != "leastconn,roundrobin,source" {
			return nil, fmt.Errorf("SupportedLBAlgorithms %q", caps["SupportedLBAlgorithms"])
		}
		protos := []string{}
		for _, p := range strings.Split(caps["SupportedProtocols"], ",") {
			protos = append(protos, strings.TrimSpace(p))
		}
		if sorted(protos) != "ssl,tcp,tcp-proxy,udp" {
			return nil, fmt.Errorf("SupportedProtocols %q", caps["SupportedProtocols"])
		}
		if caps["SupportedLBIsolation"] != "dedicated" || caps["LbSchemes"] != "Public" {
			return nil, fmt.Errorf("SupportedLBIsolation %q LbSchemes %q", caps["SupportedLBIsolation"], caps["LbSchemes"])
		}
		var methods []stickinessMethod
		if err := json.Unmarshal([]byte(caps["SupportedStickinessMethods"]), &methods); err != nil {
			return nil, fmt.Errorf("SupportedStickinessMethods is not CloudStack's JSON: %v (%q)", err, caps["SupportedStickinessMethods"])
		}
		params := map[string][]string{}
		for _, m := range methods {
			for _, p := range m.Paramlist {
				params[m.Methodname] = append(params[m.Methodname], p.Paramname)
			}
		}
		if len(methods) != 3 || sorted(params["LbCookie"]) != "cookie-name,domain,indirect,mode,nocache,postonly" ||
			sorted(params["AppCookie"]) != "cookie-name,holdtime,length,mode,prefix,request-learn" || sorted(params["SourceBased"]) != "expire,tablesize" {
			return nil, fmt.Errorf("stickiness methods %v", params)
		}
		return map[string]interface{}{"algorithms": algos, "protocols": protos, "stickiness": len(methods)}, nil
	})

	step("instances", func() (map[string]interface{}, error) {
		for _, name := range []string{"lb-vm1", "lb-vm2"} {
			p := cs.VirtualMachine.NewDeployVirtualMachineParams(offeringID, templateID, zoneID)
			p.SetName(name)
			p.SetNetworkids([]string{netID})
			r, err := cs.VirtualMachine.DeployVirtualMachine(p)
			if err != nil {
				return nil, err
			}
			vmIDs = append(vmIDs, r.Id)
		}
		ap := cs.Address.NewAssociateIpAddressParams()
		ap.SetNetworkid(netID)
		ip, err := cs.Address.AssociateIpAddress(ap)
		if err != nil {
			return nil, err
		}
		ipID = ip.Id
		return map[string]interface{}{"instances": vmIDs, "ipaddress": ipID}, nil
	})

	// resourceCloudStackLoadBalancerRuleRead: the rule by id, ports parsed as integers, members.
	read := func() (*cloudstack.LoadBalancerRule, []string, error) {
		lb, count, err := cs.LoadBalancer.GetLoadBalancerRuleByID(lbID, cloudstack.WithProject(""))
		if err != nil {
			return nil, nil, fmt.Errorf("read rule: count %d, %v", count, err)
		}
		if _, err := strconv.Atoi(lb.Publicport); err != nil {
			return nil, nil, fmt.Errorf("publicport %q: %v", lb.Publicport, err)
		}
		if _, err := strconv.Atoi(lb.Privateport); err != nil {
			return nil, nil, fmt.Errorf("privateport %q: %v", lb.Privateport, err)
		}
		l, err := cs.LoadBalancer.ListLoadBalancerRuleInstances(cs.LoadBalancer.NewListLoadBalancerRuleInstancesParams(lbID))
		if err != nil {
			return nil, nil, err
		}
		var mbs []string
		for _, i := range l.LoadBalancerRuleInstances {
			mbs = append(mbs, i.Id)
		}
		return lb, mbs, nil
	}

	// resourceCloudStackLoadBalancerRuleCreate.
	step("loadbalancer_rule_create", func() (map[string]interface{}, error) {
		p := cs.LoadBalancer.NewCreateLoadBalancerRuleParams("roundrobin", "tf-lb", 8080, 80)
		p.SetOpenfirewall(false)
		p.SetDescription("tf-lb")
		p.SetProtocol("tcp")
		p.SetPublicipid(ipID)
		r, err := cs.LoadBalancer.CreateLoadBalancerRule(p)
		if err != nil {
			return nil, err
		}
		lbID = r.Id
		if r.Name != "tf-lb" || r.Algorithm != "roundrobin" || r.Publicport != "80" || r.Privateport != "8080" || r.Protocol != "tcp" ||
			r.Publicipid != ipID || r.Publicip == "" || r.Networkid != netID || r.Zoneid != zoneID || r.Description != "tf-lb" || r.Account != e("FLT_ACCOUNT") {
			return nil, fmt.Errorf("createLoadBalancerRule answered %+v", r)
		}
		mp := cs.LoadBalancer.NewAssignToLoadBalancerRuleParams(lbID)
		mp.SetVirtualmachineids(vmIDs)
		if _, err := cs.LoadBalancer.AssignToLoadBalancerRule(mp); err != nil {
			return nil, err
		}
		lb, mbs, err := read()
		if err != nil {
			return nil, err
		}
		if lb.State != "Active" || sorted(mbs) != sorted(vmIDs) {
			return nil, fmt.Errorf("after create: state %s members %v, want %v", lb.State, mbs, vmIDs)
		}
		// openfirewall=false: no firewall rule was made for the rule.
		fp := cs.Firewall.NewListFirewallRulesParams()
		fp.SetIpaddressid(ipID)
		if l, err := cs.Firewall.ListFirewallRules(fp); err != nil || l.Count != 0 {
			return nil, fmt.Errorf("openfirewall=false left firewall rules: %+v %v", l, err)
		}
		return map[string]interface{}{"id": lbID, "publicip": lb.Publicip}, nil
	})

	// lbvmips=true: each member with its addresses on the rule.
	step("lbvmips", func() (map[string]interface{}, error) {
		p := cs.LoadBalancer.NewListLoadBalancerRuleInstancesParams(lbID)
		p.SetLbvmips(true)
		l, err := cs.LoadBalancer.ListLoadBalancerRuleInstances(p)
		if err != nil {
			return nil, err
		}
		if l.Count != 2 || len(l.LBRuleVMIDIPs) != 2 {
			return nil, fmt.Errorf("lbvmips: count %d, %d entries", l.Count, len(l.LBRuleVMIDIPs))
		}
		for _, x := range l.LBRuleVMIDIPs {
			if x.Loadbalancerruleinstance == nil || len(x.Lbvmipaddresses) != 1 || len(x.Loadbalancerruleinstance.Nic) == 0 || x.Lbvmipaddresses[0] != x.Loadbalancerruleinstance.Nic[0].Ipaddress {
				return nil, fmt.Errorf("lbvmips entry %+v", x)
			}
		}
		return nil, nil
	})

	// resourceCloudStackLoadBalancerRuleUpdate: name, description, algorithm; then member_ids
	// shrinks (remove) and grows again (assign).
	step("loadbalancer_rule_update", func() (map[string]interface{}, error) {
		p := cs.LoadBalancer.NewUpdateLoadBalancerRuleParams(lbID)
		p.SetName("tf-lb2")
		p.SetDescription("second")
		p.SetAlgorithm("source")
		u, err := cs.LoadBalancer.UpdateLoadBalancerRule(p)
		if err != nil {
			return nil, err
		}
		if u.Name != "tf-lb2" || u.Algorithm != "source" || u.Description != "second" {
			return nil, fmt.Errorf("updateLoadBalancerRule answered %+v", u)
		}
		rp := cs.LoadBalancer.NewRemoveFromLoadBalancerRuleParams(lbID)
		rp.SetVirtualmachineids(vmIDs[1:])
		if _, err := cs.LoadBalancer.RemoveFromLoadBalancerRule(rp); err != nil {
			return nil, err
		}
		lb, mbs, err := read()
		if err != nil {
			return nil, err
		}
		if lb.Name != "tf-lb2" || lb.Algorithm != "source" || sorted(mbs) != vmIDs[0] {
			return nil, fmt.Errorf("after update: %+v members %v", lb, mbs)
		}
		ap := cs.LoadBalancer.NewAssignToLoadBalancerRuleParams(lbID)
		ap.SetVirtualmachineids(vmIDs[1:])
		if _, err := cs.LoadBalancer.AssignToLoadBalancerRule(ap); err != nil {
			return nil, err
		}
		if _, mbs, err = read(); err != nil || sorted(mbs) != sorted(vmIDs) {
			return nil, fmt.Errorf("after assign: members %v, %v", mbs, err)
		}
		return nil, nil
	})

	step("stickiness_policy", func() (map[string]interface{}, error) {
		// go-cloudstack 2.9 sends SetParam's map as param[i].key / param[i].value, while
		// CloudStack reads param[i].name (LoadBalancingRulesManagerImpl.genericValidator):
		// CloudStack refuses it ("does not support param name :null"), and so does Flotilla.
		bad := cs.LoadBalancer.NewCreateLBStickinessPolicyParams(lbID, "LbCookie", "sticky")
		bad.SetParam(map[string]string{"cookie-name": "SRV"})
		if _, err := cs.LoadBalancer.CreateLBStickinessPolicy(bad); err == nil || !strings.Contains(err.Error(), "431") {
			return nil, fmt.Errorf("param[0].key accepted, or not with 431: %v", err)
		}
		p := cs.LoadBalancer.NewCreateLBStickinessPolicyParams(lbID, "SourceBased", "sticky")
		p.SetDescription("by source")
		r, err := cs.LoadBalancer.CreateLBStickinessPolicy(p)
		if err != nil {
			return nil, err
		}
		if r.Lbruleid != lbID || len(r.Stickinesspolicy) != 1 || r.Stickinesspolicy[0].Methodname != "SourceBased" || r.Stickinesspolicy[0].Name != "sticky" || r.Stickinesspolicy[0].Id == "" {
			return nil, fmt.Errorf("createLBStickinessPolicy answered %+v", r)
		}
		stickyID = r.Stickinesspolicy[0].Id
		// listLBStickinessPolicies: CloudStack names the list "stickinesspolicies" while
		// go-cloudstack 2.9 reads "lbstickinesspolicy", so only the count reaches the client
		// (the same against CloudStack); GetLBStickinessPolicyByID is unusable for that reason.
		lp := cs.LoadBalancer.NewListLBStickinessPoliciesParams()
		lp.SetLbruleid(lbID)
		l, err := cs.LoadBalancer.ListLBStickinessPolicies(lp)
		if err != nil || l.Count != 1 {
			return nil, fmt.Errorf("listLBStickinessPolicies: %+v %v", l, err)
		}
		if _, err := cs.LoadBalancer.DeleteLBStickinessPolicy(cs.LoadBalancer.NewDeleteLBStickinessPolicyParams(stickyID)); err != nil {
			return nil, err
		}
		return map[string]interface{}{"id": stickyID}, nil
	})

	step("healthcheck_policy", func() (map[string]interface{}, error) {
		p := cs.LoadBalancer.NewCreateLBHealthCheckPolicyParams(lbID)
		p.SetPingpath("/health")
		p.SetIntervaltime(5)
		p.SetResponsetimeout(2)
		p.SetHealthythreshold(2)
		p.SetUnhealthythreshold(3)
		r, err := cs.LoadBalancer.CreateLBHealthCheckPolicy(p)
		if err != nil {
			return nil, err
		}
		if r.Lbruleid != lbID || len(r.Healthcheckpolicy) != 1 {
			return nil, fmt.Errorf("createLBHealthCheckPolicy answered %+v", r)
		}
		h := r.Healthcheckpolicy[0]
		if h.Pingpath != "/health" || h.Healthcheckinterval != 5 || h.Responsetime != 2 || h.Healthcheckthresshold != 2 || h.Unhealthcheckthresshold != 3 || h.Id == "" {
			return nil, fmt.Errorf("health check policy %+v", h)
		}
		hcID = h.Id
		// The interval must exceed the response timeout (CloudStack's text).
		bad := cs.LoadBalancer.NewCreateLBHealthCheckPolicyParams(lbID)
		bad.SetIntervaltime(2)
		bad.SetResponsetimeout(5)
		if _, err := cs.LoadBalancer.CreateLBHealthCheckPolicy(bad); err == nil {
			return nil, fmt.Errorf("responsetimeout above intervaltime accepted")
		}
		lp := cs.LoadBalancer.NewListLBHealthCheckPoliciesParams()
		lp.SetLbruleid(lbID)
		l, err := cs.LoadBalancer.ListLBHealthCheckPolicies(lp)
		if err != nil || l.Count != 1 {
			return nil, fmt.Errorf("listLBHealthCheckPolicies: %+v %v", l, err)
		}
		if _, err := cs.LoadBalancer.DeleteLBHealthCheckPolicy(cs.LoadBalancer.NewDeleteLBHealthCheckPolicyParams(hcID)); err != nil {
			return nil, err
		}
		return map[string]interface{}{"id": hcID}, nil
	})

	// resourceCloudStackLoadBalancerRuleDelete, then Read and Delete of the gone id.
	step("loadbalancer_rule_delete", func() (map[string]interface{}, error) {
		if _, err := cs.LoadBalancer.DeleteLoadBalancerRule(cs.LoadBalancer.NewDeleteLoadBalancerRuleParams(lbID)); err != nil {
			return nil, err
		}
		if _, count, _ := cs.LoadBalancer.GetLoadBalancerRuleByID(lbID, cloudstack.WithProject("")); count != 0 {
			return nil, fmt.Errorf("rule read after delete: count %d", count)
		}
		_, err := cs.LoadBalancer.DeleteLoadBalancerRule(cs.LoadBalancer.NewDeleteLoadBalancerRuleParams(lbID))
		want := fmt.Sprintf("Invalid parameter id value=%s due to incorrect long value format, or entity does not exist", lbID)
		if err == nil || !strings.Contains(err.Error(), want) {
			return nil, fmt.Errorf("delete of the deleted rule: %v; the provider matches %q", err, want)
		}
		return nil, nil
	})

	step("cleanup", func() (map[string]interface{}, error) {
		if _, err := cs.Address.DisassociateIpAddress(cs.Address.NewDisassociateIpAddressParams(ipID)); err != nil {
			return nil, fmt.Errorf("disassociateIpAddress: %v", err)
		}
		for _, id := range vmIDs {
			p := cs.VirtualMachine.NewDestroyVirtualMachineParams(id)
			p.SetExpunge(true)
			if _, err := cs.VirtualMachine.DestroyVirtualMachine(p); err != nil {
				return nil, fmt.Errorf("destroyVirtualMachine: %v", err)
			}
		}
		if _, err := cs.Network.DeleteNetwork(cs.Network.NewDeleteNetworkParams(netID)); err != nil {
			return nil, fmt.Errorf("deleteNetwork: %v", err)
		}
		return nil, nil
	})
	fmt.Println(`{"step":"done","ok":true}`)
}
