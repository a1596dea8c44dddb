import { describe, expect, it } from 'vitest';
import { MicroBatcher } from './batcher';
import { EncodedBatch } from './request-encoder';

/** A batch of `size` rows whose one dense value is its row's global number. */
function rows(first: number, size: number): EncodedBatch {
  return {
    size,
    dense: Float32Array.from({ length: size }, (_, i) => first + i),
    ids: new Int32Array(0),
  };
}

describe('MicroBatcher', () => {
  it('merges requests of one turn up to maxRows, in order, and answers each with its own rows', async () => {
    const calls: number[] = [];
    // Two units per row: the row's value and its double.
    const batcher = new MicroBatcher(
      (batch) => {
        calls.push(batch.size);
        return Float32Array.from(Array.from(batch.dense).flatMap((x) => [x, 2 * x]));
      },
      2,
      1,
      0,
      5,
    );
    const answers = await Promise.all(
      [rows(0, 2), rows(2, 2), rows(4, 3), rows(7, 1)].map((b) => batcher.submit(b)),
    );
    expect(calls).toEqual([4, 4]);
    expect(answers.map((a) => Array.from(a))).toEqual([
      [0, 0, 1, 2],
      [2, 4, 3, 6],
      [4, 8, 5, 10, 6, 12],
      [7, 14],
    ]);
    expect(batcher.stats).toEqual({ calls: 2, rows: 8 });
  });

  it('runs a request larger than maxRows alone, and fails only the requests of a failed call', async () => {
    let fail = true;
    const batcher = new MicroBatcher(
      (batch) => {
        if (fail) {
          fail = false;
          throw new Error('model failed');
        }
        return batch.dense.slice();
      },
      1,
      1,
      0,
      2,
    );
    const first = batcher.submit(rows(0, 3));
    const second = batcher.submit(rows(3, 1));
    await expect(first).rejects.toThrow('model failed');
    expect(Array.from(await second)).toEqual([3]);
  });
});
