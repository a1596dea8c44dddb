export * from './hash';
export * from './timestamps';
export * from './csv';
export * from './body';
export * from './validator';
export * from './prepare';
