// The seam between the agent (channel, reconnects, dispatch) and a hypervisor. A driver has one
// method per channel op, with exactly the op's args and result (protocol/src/agent.ts), so the
// agent dispatches by name and the protocol is the driver contract. Drivers validate their own
// arguments (checkArgs) so a driver used directly (tests, benchmarks) is as strict as one behind
// the channel.
//
// Every method is idempotent: starting a running VM with the same spec returns its state,
// stopping or destroying an absent VM answers existed=false, preparing a prepared network
// re-applies its peers. `close()` frees the driver's own resources and never stops VMs: an agent
// restart must not take guests down.
import type { AgentArgs, AgentOp, AgentResult, HostCapacity, HypervisorType } from '@flotilla/protocol/agent';

export type DriverOps = { [O in AgentOp]: (args: AgentArgs<O>) => Promise<AgentResult<O>> };

export interface HostFacts {
  hypervisor: HypervisorType;
  capacity: HostCapacity;
  /** The host's VXLAN underlay address, announced in hello. */
  fabricIp?: string;
}

export interface Driver extends DriverOps {
  readonly hypervisor: HypervisorType;
  hostFacts(): Promise<HostFacts>;
  close(): Promise<void>;
}
