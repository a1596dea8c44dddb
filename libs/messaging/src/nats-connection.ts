import { setSha256Backend } from '@nats-io/obj';
import { connect, NatsConnection } from '@nats-io/transport-node';

export interface NatsConnectionOptions {
  /** Comma-separated or list of server URLs. */
  servers: string | string[];
  /** Connection name shown by the server's monitoring. */
  name: string;
  user?: string;
  pass?: string;
  token?: string;
  /** Give up the first connect after this long (ms); reconnects after that never give up. */
  connectTimeoutMs?: number;
}

function serverList(servers: string | string[]): string[] {
  const list = Array.isArray(servers) ? servers : servers.split(',');
  return list.map((server) => server.trim()).filter((server) => server.length > 0);
}

/**
 * The one NATS connection of a service: Nest's transport, JetStream, KV and Object Store all
 * use it. It reconnects forever, so a NATS restart never takes a service down.
 */
export async function connectNats(options: NatsConnectionOptions): Promise<NatsConnection> {
  // Object Store digests with node:crypto: the client's default pure-JS SHA-256 took ~6 ms per
  // 300 KB on the event loop (models, checkpoints), 20x the native hash; a model swap spent
  // 40-50 ms of the prediction service's loop hashing.
  setSha256Backend('native');
  return connect({
    servers: serverList(options.servers),
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    timeout: options.connectTimeoutMs ?? 10_000,
    // The client otherwise builds an Error with a stack for every request and publish, for
    // error traces we never print: measured 1.3-1.9x faster JetStream publishing without them.
    noAsyncTraces: true,
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.pass !== undefined ? { pass: options.pass } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
  });
}
