import { startWorkerThread } from '@dln/serving';
import { Worker } from 'node:worker_threads';
import { BlobFetchThreadData, FromBlobFetch, ToBlobFetch } from './blob-fetch-protocol';

interface Waiting {
  resolve: (blobs: Map<string, Uint8Array | null>) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Reads Object Store blobs in a worker thread with its own NATS connection. Fetching a model
 * artifact's five blobs cost ~12 ms of CPU on the caller's event loop (consumers, chunk
 * reassembly, digests), with single stalls of ~9 ms: for the prediction service, the largest
 * part of a model swap's cost to the requests it answers meanwhile.
 *
 * The thread starts on first use and again after it failed; a fetch it cannot answer (thread
 * down, no answer within `timeoutMs`) rejects, and the caller decides what to do instead.
 */
export class BlobFetchThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Waiting>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly data: BlobFetchThreadData,
    private readonly timeoutMs = 60_000,
  ) {}

  /** Starts the thread now (its modules and connection take ~1 s), not at the first fetch. */
  start(): this {
    if (!this.closed) this.started();
    return this;
  }

  /** Per name, its bytes, or null when the bucket has no such object. */
  fetch(bucket: string, names: readonly string[]): Promise<Map<string, Uint8Array | null>> {
    if (this.closed) return Promise.reject(new Error('the blob fetch thread is closed'));
    const worker = this.started();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the blob fetch thread did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      const message: ToBlobFetch = { type: 'fetch', id, bucket, names: [...names] };
      worker.postMessage(message);
    });
  }

  /** Lets the thread drain its connection and end (terminated if it takes over `graceMs`). */
  async close(graceMs = 2_000): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new Error('the blob fetch thread is closed'));
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'close' } satisfies ToBlobFetch);
    const timer = setTimeout(() => void worker.terminate(), graceMs);
    await exited;
    clearTimeout(timer);
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorkerThread(__dirname, 'blob-fetch.worker', this.data);
    worker.on('message', (answer: FromBlobFetch) => {
      const waiting = this.pending.get(answer.id);
      if (!waiting) return;
      this.pending.delete(answer.id);
      clearTimeout(waiting.timer);
      if (answer.ok) waiting.resolve(new Map(answer.blobs.map((b) => [b.name, b.bytes])));
      else waiting.reject(new Error(answer.error));
    });
    const lost = (error: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      this.failAll(error);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`the blob fetch thread exited (${code})`)));
    // Its NATS connection must not hold the process open.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
    }
    this.pending.clear();
  }
}
