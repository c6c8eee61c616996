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

// openConsole is the agent's own (it streams over a socket of its own); drivers only say where
// a VM's console is (consoleDevice).
export type DriverOps = { [O in Exclude<AgentOp, 'openConsole'>]: (args: AgentArgs<O>) => Promise<AgentResult<O>> };

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
  /** The TCP address of a running VM's VNC server (qemu's `-vnc` for KVM), if it has one; the
   *  agent dials it for a `vnc` console. Reported too as VmState.consoles.vnc. */
  vncEndpoint?(name: string): Promise<{ host: string; port: number } | undefined>;
  /** The host path of a running VM's serial console (a pty), if it has one. */
  consoleDevice?(name: string): Promise<string | undefined>;
  /** The manager's URL (the agent's own); a driver that gives system VMs a link to the manager
   *  (`{manager}` in an appliance argv) forwards to its host and port. */
  setManagerUrl?(url: string): void;
}
