// CloudStack's stock offerings, as data, with the names, display texts, flags and services a
// fresh CloudStack 4.20 install has (ConfigurationServerImpl.createDefaultNetworkOfferings and
// persistDefaultValues, NetworkOrchestrator.configure, VirtualNetworkApplianceManagerImpl).
// Left out: the offerings whose providers Flotilla does not have (security groups, NetScaler
// EIP/ELB, internal LB VM, Tungsten-Fabric) and the L2 ones (guest type L2 is not supported yet).
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../db/sql.ts';
import { CAPABILITIES } from './features.ts';
import { seedConfigurations } from './config.ts';

interface DefaultNetworkOffering {
  name: string; displayText: string; guestIpType: 'Isolated' | 'Shared'; availability: 'Required' | 'Optional';
  specifyVlan: boolean; specifyIpRanges: boolean; conserveMode: boolean; forVpc: boolean;
  provider: string; services: string[]; capabilities?: Record<string, string>;
}

const VR = 'VirtualRouter';
const VPCVR = 'VPCVirtualRouter';

/** In CloudStack's creation order (listNetworkOfferings sorts by sort_key, then creation). */
export const DEFAULT_NETWORK_OFFERINGS: readonly DefaultNetworkOffering[] = [
  {
    name: 'DefaultSharedNetworkOffering', displayText: 'Offering for Shared networks', guestIpType: 'Shared', availability: 'Optional',
    specifyVlan: true, specifyIpRanges: true, conserveMode: true, forVpc: false, provider: VR, services: ['Dhcp', 'Dns', 'UserData'],
  },
  {
    name: 'DefaultIsolatedNetworkOfferingWithSourceNatService', displayText: 'Offering for Isolated networks with Source Nat service enabled',
    guestIpType: 'Isolated', availability: 'Required', specifyVlan: false, specifyIpRanges: false, conserveMode: true, forVpc: false, provider: VR,
    services: ['Dhcp', 'Dns', 'UserData', 'Firewall', 'Gateway', 'Lb', 'SourceNat', 'StaticNat', 'PortForwarding', 'Vpn'],
  },
  {
    name: 'DefaultIsolatedNetworkOffering', displayText: 'Offering for Isolated networks with no Source Nat service',
    guestIpType: 'Isolated', availability: 'Optional', specifyVlan: true, specifyIpRanges: true, conserveMode: true, forVpc: false, provider: VR,
    services: ['Dhcp', 'Dns', 'UserData'],
  },
  {
    name: 'DefaultIsolatedNetworkOfferingForVpcNetworks', displayText: 'Offering for Isolated Vpc networks with Source Nat service enabled',
    guestIpType: 'Isolated', availability: 'Optional', specifyVlan: false, specifyIpRanges: false, conserveMode: false, forVpc: true, provider: VPCVR,
    services: ['Dhcp', 'Dns', 'UserData', 'NetworkACL', 'Gateway', 'Lb', 'SourceNat', 'StaticNat', 'PortForwarding', 'Vpn'],
  },
  {
    name: 'DefaultIsolatedNetworkOfferingForVpcNetworksNoLB', displayText: 'Offering for Isolated Vpc networks with Source Nat service enabled and LB service Disabled',
    guestIpType: 'Isolated', availability: 'Optional', specifyVlan: false, specifyIpRanges: false, conserveMode: false, forVpc: true, provider: VPCVR,
    services: ['Dhcp', 'Dns', 'UserData', 'NetworkACL', 'Gateway', 'SourceNat', 'StaticNat', 'PortForwarding', 'Vpn'],
  },
  {
    name: 'QuickCloudNoServices', displayText: 'Offering for QuickCloud with no services', guestIpType: 'Shared', availability: 'Optional',
    specifyVlan: true, specifyIpRanges: true, conserveMode: true, forVpc: false, provider: VR, services: [],
  },
];

interface DefaultServiceOffering {
  uniqueName: string; name: string; displayText: string; cpu: number; speed: number; memory: number;
  offerHa: boolean; isSystem: boolean; systemVmType?: string; defaultUse: boolean; storageType: 'shared' | 'local'; limitCpuUse: boolean;
}

export const ROUTER_OFFERING_UNIQUE_NAME = 'Cloud.Com-SoftwareRouter';

export const DEFAULT_SERVICE_OFFERINGS: readonly DefaultServiceOffering[] = [
  { uniqueName: 'Small Instance', name: 'Small Instance', displayText: 'Small Instance', cpu: 1, speed: 500, memory: 512, offerHa: false, isSystem: false, defaultUse: false, storageType: 'shared', limitCpuUse: false },
  { uniqueName: 'Medium Instance', name: 'Medium Instance', displayText: 'Medium Instance', cpu: 1, speed: 1000, memory: 1024, offerHa: false, isSystem: false, defaultUse: false, storageType: 'shared', limitCpuUse: false },
  // CloudStack's router defaults: 1 vCPU at 500 MHz, 256 MB (router.ram.size, router.cpu.mhz), HA, default-use.
  { uniqueName: ROUTER_OFFERING_UNIQUE_NAME, name: 'System Offering For Software Router', displayText: 'System Offering For Software Router', cpu: 1, speed: 500, memory: 256, offerHa: true, isSystem: true, systemVmType: 'domainrouter', defaultUse: true, storageType: 'shared', limitCpuUse: false },
  { uniqueName: `${ROUTER_OFFERING_UNIQUE_NAME}-Local`, name: 'System Offering For Software Router - Local Storage', displayText: 'System Offering For Software Router - Local Storage', cpu: 1, speed: 500, memory: 256, offerHa: true, isSystem: true, systemVmType: 'domainrouter', defaultUse: true, storageType: 'local', limitCpuUse: false },
  // The zone's system VMs (manager/src/systemvm): CloudStack's names; memory kept small (its
  // appliances are one Node process each; CloudStack's 1024 MB is a whole Debian VM).
  { uniqueName: 'Cloud.com-ConsoleProxy', name: 'System Offering For Console Proxy', displayText: 'System Offering For Console Proxy', cpu: 1, speed: 500, memory: 256, offerHa: false, isSystem: true, systemVmType: 'consoleproxy', defaultUse: true, storageType: 'shared', limitCpuUse: false },
  { uniqueName: 'Cloud.com-SecondaryStorage', name: 'System Offering For Secondary Storage VM', displayText: 'System Offering For Secondary Storage VM', cpu: 1, speed: 500, memory: 256, offerHa: false, isSystem: true, systemVmType: 'secondarystoragevm', defaultUse: true, storageType: 'shared', limitCpuUse: false },
];

/** The capability values an offering with these services gets when none are requested. */
export function fallbackCapabilities(services: readonly string[]): Record<string, string> {
  const caps: Record<string, string> = {};
  for (const s of services) for (const [cap, d] of Object.entries(CAPABILITIES[s] ?? {})) caps[cap] = d.fallback;
  return caps;
}

/** Seeds what is missing, keyed by unique name; never changes what an admin has edited. */
export async function seedOfferings(sql: Sql): Promise<void> {
  for (const so of DEFAULT_SERVICE_OFFERINGS) {
    await sql.query(
      `INSERT INTO service_offerings (id, name, unique_name, display_text, cpu_number, cpu_speed, memory, offer_ha, is_system, system_vm_type, default_use, storage_type, limit_cpu_use)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (unique_name) WHERE unique_name IS NOT NULL DO NOTHING`,
      [randomUUID(), so.name, so.uniqueName, so.displayText, so.cpu, so.speed, so.memory, so.offerHa, so.isSystem, so.systemVmType ?? null, so.defaultUse, so.storageType, so.limitCpuUse]);
  }
  for (const no of DEFAULT_NETWORK_OFFERINGS) {
    const services = Object.fromEntries(no.services.map((s) => [s, [no.provider]]));
    await sql.query(
      `INSERT INTO network_offerings (id, name, unique_name, display_text, traffic_type, guest_ip_type, specify_vlan, specify_ip_ranges,
         conserve_mode, state, availability, is_default, for_vpc, egress_default_policy, services, capabilities)
       VALUES ($1,$2,$2,$3,'Guest',$4,$5,$6,$7,'Enabled',$8,true,$9,false,$10,$11)
       ON CONFLICT (unique_name) WHERE unique_name IS NOT NULL DO NOTHING`,
      [randomUUID(), no.name, no.displayText, no.guestIpType, no.specifyVlan, no.specifyIpRanges, no.conserveMode, no.availability, no.forVpc,
        JSON.stringify(services), JSON.stringify(no.capabilities ?? fallbackCapabilities(no.services))]);
  }
  await seedConfigurations(sql);
}
