// The KVM seam (a later issue): guests under qemu (TCG here), disks from storage pools, a VNC
// display and a serial pty per VM, the appliance's control channel over virtio-serial. Nothing
// is implemented; this file pins down what the driver will take so the protocol already carries
// it (VmSpec.disks, VmSpec.console.vnc, VmSpec.controlChannel, VmState.consoles.vnc). Networks
// are the netns driver's (bridges + VXLAN in the host namespace); a qemu NIC is a tap device
// enslaved to the same bridge, so the network half will be shared.
import type { AgentArgs, AgentResult, VmState } from '@flotilla/protocol/agent';
import type { Driver, HostFacts } from '../driver.ts';
import { AgentError } from '../errors.ts';

export interface KvmDriverConfig {
  hostNamespace: string;
  /** Storage pools by name → directory; DiskSpec.volume is a file name inside one (no slashes). */
  pools: Record<string, string>;
  qemu?: string;
  /** 'kvm' when /dev/kvm exists, else 'tcg' (software emulation). */
  accel?: 'kvm' | 'tcg';
  /** VNC displays bind here (the console proxy connects); ports from 5900 + display. */
  vncListen?: string;
}

/** How a qemu VM will map onto the spec (for the implementer):
 *  - disks → `-drive file=<pool>/<volume>,format=<format>,if=<bus>[,readonly=on]`, boot → bootindex
 *  - nics → tap `flt-<hash9><dev>` in the host namespace, `-netdev tap` + `-device virtio-net-pci,mac=`
 *  - console.serial → `-serial pty` (path reported in VmState.consoles.serial)
 *  - console.vnc → `-vnc <listen>:<display>,password=on` (VmState.consoles.vnc)
 *  - controlChannel 'virtio-serial' → `-device virtio-serial -chardev socket,path=<state>/control.sock,server=on
 *    -device virtserialport,chardev=…,name=org.flotilla.control`: the host end is again a unix
 *    socket, so relay() is the netns driver's relayUnix unchanged. */
export class KvmDriver implements Driver {
  readonly hypervisor = 'KVM' as const;
  constructor(readonly config: KvmDriverConfig) {}
  private no(): never { throw new AgentError('UNSUPPORTED', 'the kvm driver is not implemented yet (see agent/README.md, "KVM seam")'); }
  async hostFacts(): Promise<HostFacts> { return this.no(); }
  async close(): Promise<void> { /* nothing */ }
  async prepareNetwork(_: AgentArgs<'prepareNetwork'>): Promise<AgentResult<'prepareNetwork'>> { return this.no(); }
  async releaseNetwork(_: AgentArgs<'releaseNetwork'>): Promise<AgentResult<'releaseNetwork'>> { return this.no(); }
  async startVm(_: AgentArgs<'startVm'>): Promise<VmState> { return this.no(); }
  async stopVm(_: AgentArgs<'stopVm'>): Promise<AgentResult<'stopVm'>> { return this.no(); }
  async rebootVm(_: AgentArgs<'rebootVm'>): Promise<VmState> { return this.no(); }
  async destroyVm(_: AgentArgs<'destroyVm'>): Promise<AgentResult<'destroyVm'>> { return this.no(); }
  async plugNic(_: AgentArgs<'plugNic'>): Promise<VmState> { return this.no(); }
  async unplugNic(_: AgentArgs<'unplugNic'>): Promise<VmState> { return this.no(); }
  async vmStats(_: AgentArgs<'vmStats'>): Promise<AgentResult<'vmStats'>> { return this.no(); }
  async listState(_: AgentArgs<'listState'>): Promise<AgentResult<'listState'>> { return this.no(); }
  async relay(_: AgentArgs<'relay'>): Promise<AgentResult<'relay'>> { return this.no(); }
  async releaseState(_: AgentArgs<'releaseState'>): Promise<AgentResult<'releaseState'>> { return this.no(); }
  async ensureVolume(_: AgentArgs<'ensureVolume'>): Promise<AgentResult<'ensureVolume'>> { return this.no(); }
  async removeVolume(_: AgentArgs<'removeVolume'>): Promise<AgentResult<'removeVolume'>> { return this.no(); }
}
