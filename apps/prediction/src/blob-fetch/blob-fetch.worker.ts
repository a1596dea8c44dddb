import { connectNats, type NatsConnection } from '@dln/messaging';
import { Objm, ObjectStore } from '@nats-io/obj';
import { parentPort, workerData } from 'node:worker_threads';
import { BlobFetchThreadData, FromBlobFetch, ToBlobFetch } from './blob-fetch-protocol';

// Entry of the blob-fetching thread (see BlobFetchThread): Object Store reads of model
// artifacts run here on a connection of its own, off the event loop that answers requests.
const port = parentPort;
if (!port) throw new Error('blob-fetch.worker must run in a worker thread');
// startWorkerThread passes its data as workerData.data (not via @dln/serving: no tfjs here).
const { connection } = (workerData as { data: BlobFetchThreadData }).data;
let nats: Promise<NatsConnection> | undefined;
const buckets = new Map<string, Promise<ObjectStore>>();

/** The thread's connection; a first connect that failed (NATS down at start) is tried again. */
function connected(): Promise<NatsConnection> {
  if (!nats) {
    const attempt = connectNats({ ...connection, name: `${connection.name}-blobs` });
    attempt.catch(() => {
      if (nats === attempt) nats = undefined;
    });
    nats = attempt;
  }
  return nats;
}

function bucket(name: string): Promise<ObjectStore> {
  let store = buckets.get(name);
  if (!store) {
    store = connected().then((nc) => new Objm(nc).open(name));
    store.catch(() => buckets.delete(name));
    buckets.set(name, store);
  }
  return store;
}

/** The bytes in an ArrayBuffer of their own, so that transferring it detaches nothing shared. */
function own(bytes: Uint8Array): Uint8Array {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return whole && !Buffer.isBuffer(bytes) ? bytes : new Uint8Array(bytes);
}

async function fetchBlobs(id: number, bucketName: string, names: string[]): Promise<void> {
  let answer: FromBlobFetch;
  try {
    const store = await bucket(bucketName);
    const blobs = await Promise.all(
      names.map(async (name) => {
        const bytes = await store.getBlob(name);
        return { name, bytes: bytes ? own(bytes) : null };
      }),
    );
    answer = { id, ok: true, blobs };
  } catch (error) {
    answer = { id, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  const transfer = new Set<ArrayBuffer>();
  if (answer.ok)
    for (const { bytes } of answer.blobs) if (bytes) transfer.add(bytes.buffer as ArrayBuffer);
  port?.postMessage(answer, [...transfer]);
}

port.on('message', (message: ToBlobFetch) => {
  if (message.type === 'fetch') {
    void fetchBlobs(message.id, message.bucket, message.names);
    return;
  }
  port.close();
  void nats?.then((nc) => nc.drain()).catch(() => undefined);
});
