export * from './names';
export * from './wait';
export * from './nats-server';
export * from './nats-cleanup';
export * from './service-process';
export * from './prediction-topics';
export * from './flights';
