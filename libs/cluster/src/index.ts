export * from './clock';
export * from './node-registry';
