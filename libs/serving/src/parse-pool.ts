import { ValidationError } from '@dln/contracts';
import { isDeepStrictEqual } from 'node:util';
import { Worker } from 'node:worker_threads';
import { FromParser, parserError, ToParser } from './parse-protocol';
import { OffloadedEncoder } from './predictor';
import { Verb } from './request';
import { EncodedBatch, EncodingSpec } from './request-encoder';
import { startWorkerThread } from './worker-thread';

interface Waiting {
  resolve: (batch: EncodedBatch) => void;
  reject: (error: unknown) => void;
}

/**
 * Bytes of a body in an ArrayBuffer of their own, so they can be transferred. A Node Buffer is
 * often a view into a larger shared buffer (a socket read, the allocation pool) and its slice()
 * is another view: copy, never detach memory others still use.
 */
function ownBuffer(body: Uint8Array): Uint8Array {
  const whole =
    body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && !Buffer.isBuffer(body);
  return whole ? body : new Uint8Array(body);
}

/** Whether two specs encode alike: the very same snapshot, equal source, stream and limits. */
export function sameEncoding(a: EncodingSpec, b: EncodingSpec): boolean {
  const sameStream =
    a.stream === b.stream ||
    (a.stream !== undefined &&
      b.stream !== undefined &&
      a.stream.snapshot === b.stream.snapshot &&
      a.stream.eventTime === b.stream.eventTime);
  return (
    a.snapshot === b.snapshot &&
    sameStream &&
    isDeepStrictEqual(a.source, b.source) &&
    isDeepStrictEqual(a.limits, b.limits)
  );
}

/**
 * Worker threads that parse, validate and encode large request bodies (PERFORMANCE.md: parsing
 * a 256-record body costs more than the model). Each worker holds every loaded version's
 * encoder; requests go to the worker with the fewest outstanding.
 */
export class ParsePool implements OffloadedEncoder {
  private readonly workers: { worker: Worker; pending: Map<number, Waiting> }[] = [];
  private readonly specs = new Map<string, EncodingSpec>();
  private nextId = 1;

  constructor(size: number) {
    for (let i = 0; i < size; i += 1) {
      const worker = startWorkerThread(__dirname, 'parse-worker');
      const pending = new Map<number, Waiting>();
      worker.on('message', (answer: FromParser) => {
        const waiting = pending.get(answer.id);
        if (!waiting) return;
        pending.delete(answer.id);
        if (answer.ok) waiting.resolve(answer.batch);
        else waiting.reject(parserError(answer.error));
      });
      worker.on('error', (error) => {
        for (const waiting of pending.values()) waiting.reject(error);
        pending.clear();
      });
      worker.unref();
      this.workers.push({ worker, pending });
    }
  }

  static key(model: string, version: number): string {
    return `${model}/${version}`;
  }

  /** Makes a version's encoder known to every worker (before its first request). */
  register(model: string, version: number, spec: EncodingSpec): void {
    const key = ParsePool.key(model, version);
    // A stream job's versions pin one snapshot: copying it to every worker again (a structured
    // clone of the whole snapshot) cost ~1.5 ms of a swap on the serving loop.
    const same = [...this.specs].find(([, known]) => sameEncoding(known, spec))?.[0];
    this.specs.set(key, spec);
    this.broadcast(same ? { type: 'same', key, as: same } : { type: 'spec', key, spec });
  }

  drop(model: string, version: number): void {
    const key = ParsePool.key(model, version);
    this.specs.delete(key);
    this.broadcast({ type: 'drop', key });
  }

  encode(model: string, version: number, body: Uint8Array, verb: Verb): Promise<EncodedBatch> {
    const key = ParsePool.key(model, version);
    const target = this.workers.reduce((best, w) =>
      w.pending.size < best.pending.size ? w : best,
    );
    const id = this.nextId++;
    if (body.byteLength === 0)
      return Promise.reject(new ValidationError('the request body is empty: send a JSON object'));
    const bytes = ownBuffer(body);
    return new Promise((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      const message: ToParser = { type: 'encode', id, key, verb, body: bytes };
      try {
        target.worker.postMessage(message, [bytes.buffer as ArrayBuffer]);
      } catch (error) {
        target.pending.delete(id);
        reject(error);
      }
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }

  private broadcast(message: ToParser): void {
    for (const { worker } of this.workers) worker.postMessage(message);
  }
}
