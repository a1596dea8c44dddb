import { DlnError, ErrorCode } from '@dln/contracts';

/** A malformed, corrupted or incomplete tensor message or chunk; resending may help. */
export class TensorCodecError extends DlnError {
  constructor(message: string) {
    super(ErrorCode.InvalidRequest, message, { retryable: true });
  }
}

/** A ps message: a small JSON header (fencing token, shard, step, example count...) and raw float32 values. */
export interface TensorMessage {
  header: Record<string, unknown>;
  values: Float32Array;
}

const MESSAGE_MAGIC = 0x544e4c44; // "DLNT" little-endian
const MESSAGE_VERSION = 1;
const PREFIX_BYTES = 16;
/** Upper bound on the JSON header, so a bad length cannot make us parse megabytes. */
export const MAX_HEADER_BYTES = 64 * 1024;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error(
    'the tensor codec sends float32 in the machine byte order and needs a little-endian machine',
  );
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Layout, little-endian: u32 magic, u16 version, u16 flags (0), u32 header bytes (a multiple of
 * 4, JSON padded with spaces), u32 value count; the header; the float32 values. The values start
 * 4-byte aligned, so a decoder can view them without copying.
 */
export function encodeTensorMessage(
  header: Record<string, unknown>,
  values: Float32Array,
): Uint8Array {
  const json = headerJson(header);
  return writeTensorMessage(json, values, new Uint8Array(tensorMessageBytes(json, values)));
}

/**
 * Encodes like `encodeTensorMessage`, into a buffer from `take(bytes)` when it gives one of
 * exactly that size (every byte is written), else into a new one. Reusing buffers matters for
 * messages of hundreds of KB sent every few ms: a fresh one each time costs allocation, page
 * faults and garbage collection in the sender, measured as much as the copy itself.
 */
export function encodeTensorMessageInto(
  header: Record<string, unknown>,
  values: Float32Array,
  take: (bytes: number) => Uint8Array | undefined,
): Uint8Array {
  const json = headerJson(header);
  const bytes = tensorMessageBytes(json, values);
  const reused = take(bytes);
  return writeTensorMessage(
    json,
    values,
    reused?.byteLength === bytes ? reused : new Uint8Array(bytes),
  );
}

function headerJson(header: Record<string, unknown>): Uint8Array {
  const json = encoder.encode(JSON.stringify(header));
  if (paddedHeaderBytes(json) > MAX_HEADER_BYTES)
    throw new TensorCodecError(
      `message header of ${paddedHeaderBytes(json)} bytes exceeds ${MAX_HEADER_BYTES}`,
    );
  return json;
}

function paddedHeaderBytes(json: Uint8Array): number {
  return Math.ceil(json.byteLength / 4) * 4;
}

function tensorMessageBytes(json: Uint8Array, values: Float32Array): number {
  return PREFIX_BYTES + paddedHeaderBytes(json) + values.byteLength;
}

function writeTensorMessage(json: Uint8Array, values: Float32Array, bytes: Uint8Array): Uint8Array {
  const headerBytes = paddedHeaderBytes(json);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(0, MESSAGE_MAGIC, true);
  view.setUint16(4, MESSAGE_VERSION, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, headerBytes, true);
  view.setUint32(12, values.length, true);
  bytes.set(json, PREFIX_BYTES);
  bytes.fill(0x20, PREFIX_BYTES + json.byteLength, PREFIX_BYTES + headerBytes);
  bytes.set(
    new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    PREFIX_BYTES + headerBytes,
  );
  return bytes;
}

/**
 * Decodes a tensor message. The values view the input bytes when they are 4-byte aligned (no
 * copy: do not reuse the input buffer while the values are in use), and are copied otherwise.
 */
export function decodeTensorMessage(bytes: Uint8Array): TensorMessage {
  if (bytes.byteLength < PREFIX_BYTES)
    throw new TensorCodecError(`tensor message too short: ${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MESSAGE_MAGIC)
    throw new TensorCodecError('not a tensor message (bad magic)');
  const version = view.getUint16(4, true);
  if (version !== MESSAGE_VERSION)
    throw new TensorCodecError(`tensor message version ${version} is not supported`);
  const headerBytes = view.getUint32(8, true);
  const count = view.getUint32(12, true);
  if (headerBytes > MAX_HEADER_BYTES || headerBytes % 4 !== 0)
    throw new TensorCodecError(`bad tensor message header length ${headerBytes}`);
  const expected = PREFIX_BYTES + headerBytes + 4 * count;
  if (bytes.byteLength !== expected) {
    throw new TensorCodecError(
      `tensor message has ${bytes.byteLength} bytes, its prefix says ${expected}`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes)));
  } catch (cause) {
    throw new TensorCodecError(`tensor message header is not JSON: ${(cause as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new TensorCodecError('tensor message header must be a JSON object');
  }
  const start = bytes.byteOffset + PREFIX_BYTES + headerBytes;
  // `bytes.slice()` would not do: on a Node Buffer it is a view, not a copy.
  const values =
    start % 4 === 0
      ? new Float32Array(bytes.buffer, start, count)
      : alignedCopy(bytes.subarray(PREFIX_BYTES + headerBytes), count);
  return { header: header as Record<string, unknown>, values };
}

function alignedCopy(bytes: Uint8Array, count: number): Float32Array {
  const copy = new Uint8Array(4 * count);
  copy.set(bytes.subarray(0, 4 * count));
  return new Float32Array(copy.buffer);
}
