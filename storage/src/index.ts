// The secondary storage role (storage/README.md): pure parts and the service.
export * from './checksum.ts';
export * from './status.ts';
export * from './signature.ts';
export * from './tar.ts';
export { findBusybox, GUEST_TEMPLATE_ID } from './guest-template.ts';
export { ImageStore, ID as IMAGE_ID, type ImageRequest, type ImageState } from './store.ts';
export { startStorageServer, type StorageServer, type StorageServerConfig } from './server.ts';
export { StorageClient } from './client.ts';
