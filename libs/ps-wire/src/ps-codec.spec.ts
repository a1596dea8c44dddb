import { describe, expect, it } from 'vitest';
import { DlnError, ErrorCode, PsHeader } from '@dln/contracts';
import { FencedError } from '@dln/training';
import {
  chunkCount,
  chunkFloats,
  chunkRange,
  decodePsMessage,
  encodePsError,
  encodePsMessage,
} from './ps-codec';

const header: PsHeader = {
  token: { jobId: 'job1', generation: 1, role: 'worker-0', attempt: 0 },
  shard: 0,
  step: 3,
  count: 256,
  chunk: 0,
  chunks: 1,
  offset: 0,
  total: 4,
};

describe('ps codec', () => {
  it('round-trips a header and raw float32 values, also from an unaligned buffer', () => {
    const bytes = encodePsMessage(header, new Float32Array([1, 2, 3, 4]));
    const shifted = new Uint8Array(bytes.byteLength + 1).subarray(1);
    shifted.set(bytes);
    for (const input of [bytes, shifted]) {
      const { header: back, values } = decodePsMessage(input);
      expect(back).toEqual(header);
      expect(Array.from(values)).toEqual([1, 2, 3, 4]);
    }
  });

  it('rethrows an error answer as the DlnError it was', () => {
    expect(() => decodePsMessage(encodePsError(new FencedError('stale attempt')))).toThrow(
      expect.objectContaining({ code: ErrorCode.Fenced, message: 'stale attempt' }),
    );
    expect(() => decodePsMessage(encodePsError(new Error('secret detail')))).toThrow(DlnError);
  });

  it('refuses bad headers with the field named', () => {
    expect(() => decodePsMessage(encodePsMessage({ ...header, step: -1 }))).toThrow(/step/);
    expect(() => decodePsMessage(encodePsMessage({ ...header, chunk: 2, chunks: 2 }))).toThrow(
      /out of range/,
    );
  });

  it('cuts vectors into chunks that fit max_payload and cover every float once', () => {
    const perChunk = chunkFloats(1024 * 1024);
    expect(4 * perChunk).toBeLessThan(1024 * 1024);
    expect(chunkCount(49_665, perChunk)).toBe(1);
    expect(chunkCount(1_000_000, perChunk)).toBe(4);
    const ranges = Array.from({ length: 3 }, (_, i) => chunkRange(10, 3, i));
    expect(ranges).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 8 },
      { start: 8, end: 10 },
    ]);
    expect(() => chunkFloats(100)).toThrow(/too small/);
  });
});
