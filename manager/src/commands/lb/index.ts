// The load-balancing area: LB rules, members, stickiness and health-check policies, SSL certificates.
export { createLoadBalancerRule, updateLoadBalancerRule, deleteLoadBalancerRule, listLoadBalancerRules, assignToLoadBalancerRule, removeFromLoadBalancerRule, listLoadBalancerRuleInstances } from './rules.ts';
export { createLBStickinessPolicy, deleteLBStickinessPolicy, listLBStickinessPolicies, createLBHealthCheckPolicy, deleteLBHealthCheckPolicy, listLBHealthCheckPolicies, updateLBStickinessPolicy, updateLBHealthCheckPolicy } from './policies.ts';
export { uploadSslCert, deleteSslCert, listSslCerts, assignCertToLoadBalancer, removeCertFromLoadBalancer } from './certs.ts';
