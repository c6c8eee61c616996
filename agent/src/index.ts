export { Agent, AGENT_VERSION, backoffDelay, DEFAULT_BACKOFF, type AgentOptions, type AgentStatus, type BackoffOptions } from './agent.ts';
export type { Driver, DriverOps, HostFacts } from './driver.ts';
export { AgentError } from './errors.ts';
export { checkArgs, checkNetworkSpec, checkVmSpec } from './validate.ts';
export { NetnsDriver, NetnsNames, DEFAULT_APPLIANCES, BUNDLE, type NetnsDriverConfig } from './drivers/netns.ts';
export { SimulatorDriver, type SimulatorConfig } from './drivers/simulator.ts';
export { KvmDriver, type KvmDriverConfig } from './drivers/kvm.ts';
