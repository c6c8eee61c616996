// Compiles the spec's VM data into per-source-IP tables for the metadata and password services
// (pure). The services answer by the request's source address, exactly as CloudStack's VR
// does with its per-IP files, so one VM can never read another's data.
import { VM_METADATA_FIELDS, type GuestNetwork } from '@flotilla/protocol/router';

export interface VmEntry {
  userData: Buffer | undefined;
  /** CloudStack field name → value, in CloudStack's listing order. */
  metadata: Map<string, string>;
}

export interface VmDataTable {
  /** Addresses (gateways) the services listen on. */
  addresses: string[];
  vms: Map<string, VmEntry>;
  passwords: Map<string, string>;
}

export function compileVmData(nets: GuestNetwork[]): VmDataTable {
  const vms = new Map<string, VmEntry>();
  const passwords = new Map<string, string>();
  for (const n of nets) {
    for (const v of n.vms) {
      const metadata = new Map<string, string>();
      for (const f of VM_METADATA_FIELDS) { const val = v.metadata[f]; if (val !== undefined) metadata.set(f, val); }
      vms.set(v.ip, { userData: v.userData ? Buffer.from(v.userData.replace(/[\r\n]/g, ''), 'base64') : undefined, metadata });
      if (v.password !== undefined) passwords.set(v.ip, v.password);
    }
  }
  return { addresses: [...new Set(nets.map((n) => n.gateway))], vms, passwords };
}

export type Reply = { status: number; body: string | Buffer; type?: string };

/**
 * The metadata service's routing (pure): CloudStack's paths `/latest/user-data`,
 * `/latest/meta-data/` (listing), `/latest/meta-data/<field>`, and the `/latest/<field>` short
 * forms its VR rewrites to the same files (older cloud-init and CloudStack's own scripts use
 * them). Any unknown source address gets 404, as the VR does.
 */
export function metadataReply(t: VmDataTable, sourceIp: string, rawPath: string): Reply {
  const path = rawPath.split('?')[0]!.replace(/\/{2,}/g, '/');
  const vm = t.vms.get(sourceIp);
  if (!vm) return { status: 404, body: 'Not Found\n' };
  const text = (s: string): Reply => ({ status: 200, body: s, type: 'text/plain; charset=utf-8' });
  if (path === '/latest/user-data' || path === '/latest/user-data/' || path === '/latest/userdata') {
    return vm.userData ? { status: 200, body: vm.userData, type: 'application/octet-stream' } : { status: 404, body: 'Not Found\n' };
  }
  if (path === '/latest' || path === '/latest/') return text(`meta-data/\n${vm.userData ? 'user-data\n' : ''}`);
  if (path === '/latest/meta-data' || path === '/latest/meta-data/') return text([...vm.metadata.keys()].join('\n') + '\n');
  const m = /^\/latest\/(?:meta-data\/)?([a-z0-9-]+)\/?$/.exec(path);
  if (m) {
    const v = vm.metadata.get(m[1]!);
    if (v !== undefined) return text(v);
  }
  return { status: 404, body: 'Not Found\n' };
}
