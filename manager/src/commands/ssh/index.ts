// The SSH key pair area: key pairs of accounts; VMs take them at deploy (compute/vms.ts).
export { createSSHKeyPair, registerSSHKeyPair, listSSHKeyPairs, deleteSSHKeyPair } from './keypairs.ts';
