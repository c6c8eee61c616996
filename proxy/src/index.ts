export * from './token.ts';
export * from './url.ts';
export * from './server.ts';
export * from './vnc.ts';
