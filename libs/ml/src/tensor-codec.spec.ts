import { describe, expect, it } from 'vitest';
import { ChunkAssembler, CHUNK_HEADER_BYTES, reassembleChunks, splitIntoChunks } from './chunks';
import {
  decodeTensorMessage,
  encodeTensorMessage,
  encodeTensorMessageInto,
  TensorCodecError,
} from './tensor-codec';

function ramp(length: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(i) * 1e3 + i * 1e-7);
}

describe('tensor message', () => {
  it('encodes into a reused buffer of the right size exactly as into a new one', () => {
    const header = { step: 7, text: 'abc' };
    const fresh = encodeTensorMessage(header, ramp(100));
    const stale = new Uint8Array(fresh.byteLength).fill(0xee);
    const reused = encodeTensorMessageInto(header, ramp(100), (bytes) =>
      bytes === stale.byteLength ? stale : undefined,
    );
    expect(reused).toBe(stale);
    expect(Array.from(reused)).toEqual(Array.from(fresh));
    const other = encodeTensorMessageInto(header, ramp(100), () => new Uint8Array(3));
    expect(Array.from(other)).toEqual(Array.from(fresh));
  });

  it('round-trips header and values bit-exactly, viewing the bytes without a copy', () => {
    const header = {
      token: { job: 'j1', generation: 2, role: 'worker-0', attempt: 1 },
      shard: 1,
      step: 42,
      examples: 256,
    };
    const values = ramp(1001);
    const bytes = encodeTensorMessage(header, values);
    const back = decodeTensorMessage(bytes);
    expect(back.header).toEqual(header);
    expect(Array.from(back.values)).toEqual(Array.from(values));
    expect(back.values.buffer).toBe(bytes.buffer);
  });

  it('handles odd header lengths, empty values and an unaligned input by copying', () => {
    for (const text of ['', 'a', 'ab', 'abc', 'abcd', 'é']) {
      const bytes = encodeTensorMessage({ text }, new Float32Array(0));
      expect(decodeTensorMessage(bytes)).toEqual({ header: { text }, values: new Float32Array(0) });
    }
    const bytes = encodeTensorMessage({ n: 1 }, ramp(3));
    const shifted = new Uint8Array(bytes.byteLength + 1);
    shifted.set(bytes, 1);
    const back = decodeTensorMessage(shifted.subarray(1));
    expect(Array.from(back.values)).toEqual(Array.from(ramp(3)));
    expect(back.values.buffer).not.toBe(shifted.buffer);
    // A Node Buffer at an unaligned offset of a shared pool, as NATS hands messages over.
    const pool = Buffer.alloc(bytes.byteLength + 3);
    pool.set(bytes, 3);
    const fromBuffer = decodeTensorMessage(pool.subarray(3));
    expect(Array.from(fromBuffer.values)).toEqual(Array.from(ramp(3)));
  });

  it('refuses truncated, foreign and malformed messages', () => {
    const bytes = encodeTensorMessage({ step: 1 }, ramp(4));
    expect(() => decodeTensorMessage(bytes.subarray(0, bytes.byteLength - 1))).toThrow(
      /its prefix says/,
    );
    expect(() => decodeTensorMessage(bytes.subarray(0, 8))).toThrow(TensorCodecError);
    const foreign = bytes.slice();
    foreign[0] = 0;
    expect(() => decodeTensorMessage(foreign)).toThrow(/bad magic/);
    const notObject = encodeTensorMessage({}, new Float32Array(0));
    notObject.set(new TextEncoder().encode('[1]'), 16);
    expect(() => decodeTensorMessage(notObject)).toThrow(/JSON object/);
    const badJson = bytes.slice();
    badJson[16] = 0x7b + 1;
    expect(() => decodeTensorMessage(badJson)).toThrow(/not JSON/);
  });
});

describe('chunks', () => {
  const message = encodeTensorMessage({ step: 7 }, ramp(49_665));

  it('splits into chunks of at most N bytes and reassembles in any order', () => {
    const max = 64 * 1024 + 3;
    const chunks = splitIntoChunks(message, max, 99);
    expect(chunks.length).toBe(Math.ceil(message.byteLength / (max - CHUNK_HEADER_BYTES)));
    expect(chunks.every((chunk) => chunk.byteLength <= max)).toBe(true);
    const shuffled = [chunks[2]!, ...chunks.slice(3).reverse(), chunks[0]!, chunks[1]!];
    const back = reassembleChunks(shuffled);
    expect(Buffer.compare(back, message)).toBe(0);
    expect(Array.from(decodeTensorMessage(back).values)).toEqual(Array.from(ramp(49_665)));
  });

  it('keeps a small message in one chunk and tolerates a redelivered chunk', () => {
    const small = encodeTensorMessage({ a: 1 }, ramp(5));
    const chunks = splitIntoChunks(small, 1024 * 1024, 1);
    expect(chunks).toHaveLength(1);
    expect(decodeTensorMessage(reassembleChunks(chunks)).header).toEqual({ a: 1 });
    const odd = splitIntoChunks(small, CHUNK_HEADER_BYTES + 7, 2);
    const assembler = new ChunkAssembler();
    expect(assembler.add(odd[0]!)).toBeUndefined();
    expect(assembler.add(odd[0]!)).toBeUndefined();
    let out: Uint8Array | undefined;
    for (const chunk of odd.slice(1)) out = assembler.add(chunk) ?? out;
    expect(out).toEqual(small);
  });

  it('names missing chunks and refuses corrupted or foreign ones', () => {
    const chunks = splitIntoChunks(message, 50_000, 5);
    expect(() => reassembleChunks([chunks[0]!, chunks[3]!])).toThrow(
      `missing chunks 1, 2 of ${chunks.length}`,
    );
    const corrupted = chunks[1]!.slice();
    corrupted[CHUNK_HEADER_BYTES + 10]! ^= 0xff;
    expect(() => reassembleChunks([chunks[0]!, corrupted])).toThrow(
      /chunk 1 of transfer 5 is corrupted/,
    );
    const other = splitIntoChunks(message, 50_000, 6);
    expect(() => reassembleChunks([chunks[0]!, other[1]!])).toThrow(
      /does not belong to transfer 5/,
    );
    expect(() => reassembleChunks([chunks[0]!.subarray(0, 10)])).toThrow(/too short/);
    expect(() => splitIntoChunks(message, CHUNK_HEADER_BYTES, 1)).toThrow(RangeError);
  });
});
