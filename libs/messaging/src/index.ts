export * from './json-codec';
export * from './nats-connection';
export * from './request';
export * from './shared-nats-server';
export * from './jetstream';
export * from './publish-window';
export type { NatsConnection, Msg, MsgHdrs } from '@nats-io/transport-node';
export { headers as natsHeaders } from '@nats-io/transport-node';
export * from './kv-lease-store';
