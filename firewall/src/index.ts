// @flotilla/firewall: nftables-ts model, the pure compiler, the packet tracer and the applier.
export * from './nft/types.ts';
export * as nft from './nft/build.ts';
export { compile, compileNormalized, FirewallCompiler, TABLE, PRIORITY, type CompileOptions } from './compile.ts';
export { Tracer, trace, type Packet, type Routes, type TraceResult } from './trace.ts';
export { NftApplier, FirewallApplyError, NFT_BIN, elementUpdate, kernelForm, shapeOf, defaultBackend, type ApplierOptions, type ApplyResult, type NftBackend } from './apply.ts';
