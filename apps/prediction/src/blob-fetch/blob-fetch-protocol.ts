import type { NatsConnectionOptions } from '@dln/messaging';

/** What the thread is started with: how to open its own NATS connection. */
export interface BlobFetchThreadData {
  connection: NatsConnectionOptions;
}

export type ToBlobFetch =
  { type: 'fetch'; id: number; bucket: string; names: string[] } | { type: 'close' };

/** Per name, its bytes (an ArrayBuffer of their own, transferred), or null: no such object. */
export type FromBlobFetch =
  | { id: number; ok: true; blobs: { name: string; bytes: Uint8Array | null }[] }
  | { id: number; ok: false; error: string };
