export * from './clock';
export * from './node-registry';
export * from './role-ipc';
export * from './role-supervisor';
export * from './role-gc';
export * from './role-process';
export * from './lease-election';
export * from './lease-loop';
