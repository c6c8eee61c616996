// The dedication area: public IP ranges and guest VLAN ranges dedicated to an account or domain.
export {
  dedicatePublicIpRange, releasePublicIpRange, dedicateGuestVlanRange, listDedicatedGuestVlanRanges, releaseDedicatedGuestVlanRange,
} from './dedication.ts';
