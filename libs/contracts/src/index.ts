export * from './names';
export * from './errors';
export * from './validation';
export * from './subjects';
export * from './fencing';
export * from './state-machines';
export * from './examples';
export * from './sources';
