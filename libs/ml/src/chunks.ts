import { crc32 } from 'node:zlib';
import { TensorCodecError } from './tensor-codec';

const CHUNK_MAGIC = 0x434e4c44; // "DLNC" little-endian
/** Bytes of each chunk's own header: magic, transfer id, index, count, total bytes, CRC-32. */
export const CHUNK_HEADER_BYTES = 24;
/** Refuse to reassemble more than this (a bad count must not allocate gigabytes). */
export const MAX_TRANSFER_BYTES = 1024 * 1024 * 1024;

interface ChunkHeader {
  transferId: number;
  index: number;
  count: number;
  totalBytes: number;
  payload: Uint8Array;
}

/**
 * Splits a message into chunks of at most `maxChunkBytes` (header included), e.g. the broker's
 * max_payload. `transferId` (u32) ties the chunks of one message together.
 */
export function splitIntoChunks(
  message: Uint8Array,
  maxChunkBytes: number,
  transferId: number,
): Uint8Array[] {
  if (!Number.isInteger(maxChunkBytes) || maxChunkBytes <= CHUNK_HEADER_BYTES) {
    throw new RangeError(
      `chunk size must be an integer above ${CHUNK_HEADER_BYTES} bytes, got ${maxChunkBytes}`,
    );
  }
  if (!Number.isInteger(transferId) || transferId < 0 || transferId > 0xffffffff)
    throw new RangeError(`bad transfer id ${transferId}`);
  if (message.byteLength > MAX_TRANSFER_BYTES)
    throw new RangeError(`message of ${message.byteLength} bytes is too large`);
  const payloadBytes = maxChunkBytes - CHUNK_HEADER_BYTES;
  const count = Math.max(1, Math.ceil(message.byteLength / payloadBytes));
  const chunks: Uint8Array[] = [];
  for (let index = 0; index < count; index += 1) {
    const payload = message.subarray(
      index * payloadBytes,
      Math.min(message.byteLength, (index + 1) * payloadBytes),
    );
    const chunk = new Uint8Array(CHUNK_HEADER_BYTES + payload.byteLength);
    const view = new DataView(chunk.buffer);
    view.setUint32(0, CHUNK_MAGIC, true);
    view.setUint32(4, transferId, true);
    view.setUint32(8, index, true);
    view.setUint32(12, count, true);
    view.setUint32(16, message.byteLength, true);
    view.setUint32(20, crc32(payload), true);
    chunk.set(payload, CHUNK_HEADER_BYTES);
    chunks.push(chunk);
  }
  return chunks;
}

function readChunk(chunk: Uint8Array): ChunkHeader {
  if (chunk.byteLength < CHUNK_HEADER_BYTES)
    throw new TensorCodecError(`chunk too short: ${chunk.byteLength} bytes`);
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (view.getUint32(0, true) !== CHUNK_MAGIC)
    throw new TensorCodecError('not a chunk (bad magic)');
  const header = {
    transferId: view.getUint32(4, true),
    index: view.getUint32(8, true),
    count: view.getUint32(12, true),
    totalBytes: view.getUint32(16, true),
    payload: chunk.subarray(CHUNK_HEADER_BYTES),
  };
  if (header.count === 0 || header.index >= header.count)
    throw new TensorCodecError(`chunk index ${header.index} of ${header.count} is out of range`);
  if (header.totalBytes > MAX_TRANSFER_BYTES)
    throw new TensorCodecError(`transfer of ${header.totalBytes} bytes is too large`);
  if (crc32(header.payload) !== view.getUint32(20, true))
    throw new TensorCodecError(
      `chunk ${header.index} of transfer ${header.transferId} is corrupted (CRC mismatch)`,
    );
  return header;
}

/** Collects the chunks of one transfer, in any order, and returns the message once complete. */
export class ChunkAssembler {
  private transferId: number | undefined;
  private count = 0;
  private totalBytes = 0;
  private received = 0;
  private readonly parts = new Map<number, Uint8Array>();

  /** Adds one chunk; returns the whole message when this chunk completes it. */
  add(chunk: Uint8Array): Uint8Array | undefined {
    const header = readChunk(chunk);
    if (this.transferId === undefined) {
      this.transferId = header.transferId;
      this.count = header.count;
      this.totalBytes = header.totalBytes;
    } else if (
      header.transferId !== this.transferId ||
      header.count !== this.count ||
      header.totalBytes !== this.totalBytes
    ) {
      throw new TensorCodecError(
        `chunk of transfer ${header.transferId} (${header.count} chunks) does not belong to transfer ${this.transferId} (${this.count} chunks)`,
      );
    }
    if (this.parts.has(header.index)) return undefined; // a redelivered chunk: same CRC-checked bytes
    this.parts.set(header.index, header.payload);
    this.received += header.payload.byteLength;
    if (this.received > this.totalBytes)
      throw new TensorCodecError(
        `transfer ${this.transferId} got more bytes than its ${this.totalBytes}`,
      );
    return this.parts.size === this.count ? this.assemble() : undefined;
  }

  /** Number of chunks of the transfer (0 before the first chunk). */
  get expected(): number {
    return this.count;
  }

  /** Indexes of chunks not received yet. */
  missing(): number[] {
    return Array.from({ length: this.count }, (_, index) => index).filter(
      (index) => !this.parts.has(index),
    );
  }

  private assemble(): Uint8Array {
    if (this.received !== this.totalBytes)
      throw new TensorCodecError(
        `transfer ${this.transferId} has ${this.received} bytes, expected ${this.totalBytes}`,
      );
    if (this.count === 1) return this.parts.get(0) as Uint8Array;
    const message = new Uint8Array(this.totalBytes);
    let offset = 0;
    for (let index = 0; index < this.count; index += 1) {
      const part = this.parts.get(index) as Uint8Array;
      message.set(part, offset);
      offset += part.byteLength;
    }
    return message;
  }
}

/** Reassembles a complete set of chunks (any order); throws naming the missing ones. */
export function reassembleChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 0) throw new TensorCodecError('no chunks to reassemble');
  const assembler = new ChunkAssembler();
  let message: Uint8Array | undefined;
  for (const chunk of chunks) message = assembler.add(chunk) ?? message;
  if (!message)
    throw new TensorCodecError(
      `missing chunks ${assembler.missing().join(', ')} of ${assembler.expected}`,
    );
  return message;
}
