import { EncodedBatch } from './request-encoder';

interface Pending {
  batch: EncodedBatch;
  resolve: (scores: Float32Array) => void;
  reject: (error: unknown) => void;
}

/** Runs `rows` encoded rows through the model: row-major scores, `units` per row. */
export type ModelCall = (batch: EncodedBatch) => Float32Array;

/**
 * Merges the requests that arrive within one event-loop turn into one model call, flushed by
 * `setImmediate` (no timer: a 1-2 ms timer did no better and added latency, PERFORMANCE.md).
 * A flush takes whole requests up to `maxRows`; the rest go to the next turn.
 */
export class MicroBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  private calls = 0;
  private rows = 0;

  constructor(
    private readonly call: ModelCall,
    private readonly units: number,
    private readonly denseWidth: number,
    private readonly idCount: number,
    private readonly maxRows: number,
  ) {}

  /** Resolves with this request's scores (size x units). */
  submit(batch: EncodedBatch): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Model calls and rows scored so far (the mean batch size shows how well merging works). */
  get stats(): { calls: number; rows: number } {
    return { calls: this.calls, rows: this.rows };
  }

  private flush(): void {
    this.scheduled = false;
    const taken: Pending[] = [];
    let rows = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0] as Pending;
      if (taken.length > 0 && rows + next.batch.size > this.maxRows) break;
      taken.push(next);
      rows += next.batch.size;
      this.queue.shift();
    }
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    if (taken.length === 0) return;
    try {
      const scores = this.call(
        taken.length === 1 ? (taken[0] as Pending).batch : this.merge(taken, rows),
      );
      this.calls += 1;
      this.rows += rows;
      let offset = 0;
      for (const pending of taken) {
        const width = pending.batch.size * this.units;
        pending.resolve(taken.length === 1 ? scores : scores.slice(offset, offset + width));
        offset += width;
      }
    } catch (error) {
      for (const pending of taken) pending.reject(error);
    }
  }

  private merge(taken: Pending[], rows: number): EncodedBatch {
    const merged: EncodedBatch = {
      size: rows,
      dense: new Float32Array(rows * this.denseWidth),
      ids: new Int32Array(rows * this.idCount),
    };
    let row = 0;
    for (const { batch } of taken) {
      merged.dense.set(batch.dense, row * this.denseWidth);
      merged.ids.set(batch.ids, row * this.idCount);
      row += batch.size;
    }
    return merged;
  }
}
