export * from './token.ts';
export * from './url.ts';
export * from './server.ts';
