export * from './lab.ts';
