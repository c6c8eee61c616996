// Public surface of @flotilla/routers for the host agent (netns driver), the appliance image
// and tests. The appliance process itself is src/main.ts.
export { Router, diffServices, serviceSlices, type RouterOptions, type ApplyResult } from './router.ts';
export { RouterControl } from './client.ts';
export { validateSpec } from './validate.ts';
export { compileDhcpNetwork } from './dhcp/engine.ts';
export { compileZone } from './dns/zone.ts';
export { compileVmData, metadataReply } from './vmdata/compile.ts';
export { compileLinks } from './links.ts';
/** Builds the N-API addon ahead of time (appliance image build); returns its path. */
export { ensureNative } from './native.ts';
export const MAIN_PATH = new URL('./main.ts', import.meta.url).pathname;
