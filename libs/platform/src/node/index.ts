export * from './node-types';
export * from './node-agent';
export * from './node.config';
export * from './node-service.module';
export * from './node-bootstrap';
