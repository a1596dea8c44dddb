import {
  jetstream,
  JetStreamClient,
  jetstreamManager,
  JetStreamManager,
  StreamConfig,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { OutgoingMessage, PublishOutcome, PublishWindow } from './publish-window';

export type { JetStreamClient, JetStreamManager };

export function jetStreamOf(nc: NatsConnection): JetStreamClient {
  return jetstream(nc);
}

export async function jetStreamManagerOf(nc: NatsConnection): Promise<JetStreamManager> {
  return jetstreamManager(nc);
}

/** Creates the stream, or updates it in place when it exists with another configuration. */
export async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string; subjects: string[] },
): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams.add(config);
    return;
  }
  await jsm.streams.update(config.name, config);
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; api_error?: { code?: number } };
  return (
    e?.api_error?.code === 404 ||
    e?.code === 404 ||
    e?.code === '404' ||
    /not found/i.test(String(e?.message ?? ''))
  );
}

/**
 * Publishes every message through a window of `inFlight` acks outstanding; resolves with the
 * counts once each is acknowledged, or throws the first failure once those already sent settled.
 */
export async function publishAll(
  js: JetStreamClient,
  messages: Iterable<OutgoingMessage>,
  inFlight = 256,
): Promise<PublishOutcome> {
  const batch = new PublishWindow(js, inFlight).batch();
  const iterator = messages[Symbol.iterator]();
  try {
    await batch.publishFrom(() => {
      const item = iterator.next();
      return item.done === true ? undefined : item.value;
    });
  } catch (err) {
    await batch.flush().catch(() => undefined);
    throw err;
  }
  return batch.flush();
}
