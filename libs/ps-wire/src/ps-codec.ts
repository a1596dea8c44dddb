import {
  DlnError,
  ErrorBody,
  ErrorCode,
  errorFromBody,
  isErrorBody,
  PsHeader,
  psHeaderSchema,
} from '@dln/contracts';
import { decodeTensorMessage, encodeTensorMessage, encodeTensorMessageInto } from '@dln/ml';

/** Bytes kept free in every message for the codec prefix and the JSON header. */
export const PS_HEADER_RESERVE = 2048;

/** Floats per chunk so that one message (header included) fits the server's max_payload. */
export function chunkFloats(maxPayload: number): number {
  const floats = Math.floor((maxPayload - PS_HEADER_RESERVE) / 4);
  if (!Number.isFinite(floats) || floats < 256)
    throw new Error(`max_payload ${maxPayload} is too small for ps messages`);
  return floats;
}

/** Chunks needed for `total` floats. */
export function chunkCount(total: number, perChunk: number): number {
  return Math.max(1, Math.ceil(total / perChunk));
}

/** The float range [start, end) of chunk `index` of `chunks` over `total` floats (PsHeader's rule). */
export function chunkRange(
  total: number,
  chunks: number,
  index: number,
): { start: number; end: number } {
  const size = Math.ceil(total / chunks);
  const start = Math.min(total, index * size);
  return { start, end: Math.min(total, start + size) };
}

const EMPTY = new Float32Array(0);

/** Encodes a ps message, into a buffer `reuse(bytes)` hands out when it has one of that size. */
export function encodePsMessage(
  header: PsHeader,
  values: Float32Array = EMPTY,
  reuse?: (bytes: number) => Uint8Array | undefined,
): Uint8Array {
  return reuse
    ? encodeTensorMessageInto(header, values, reuse)
    : encodeTensorMessage(header, values);
}

/** An error answer: a header `{error}` and no values. */
export function encodePsError(error: unknown): Uint8Array {
  const body: ErrorBody =
    error instanceof DlnError
      ? error.toBody()
      : {
          error: {
            code: ErrorCode.Internal,
            message: error instanceof Error ? error.message : 'internal error',
            retryable: false,
          },
        };
  return encodeTensorMessage({ ...body }, EMPTY);
}

/** Decodes a ps message; rethrows an error answer as the sender's DlnError. */
export function decodePsMessage(bytes: Uint8Array): { header: PsHeader; values: Float32Array } {
  // NATS hands out Node Buffers at any offset; the values must start 4-byte aligned to be viewed
  // as float32 (and Buffer.slice does not copy), so copy the rare unaligned message once.
  const message = decodeTensorMessage(bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes));
  if (isErrorBody(message.header)) throw errorFromBody(message.header);
  const parsed = psHeaderSchema.safeParse(message.header);
  if (!parsed.success) {
    throw new DlnError(
      ErrorCode.InvalidRequest,
      `bad ps header: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const header = parsed.data;
  if (header.chunk >= header.chunks)
    throw new DlnError(
      ErrorCode.InvalidRequest,
      `chunk ${header.chunk} of ${header.chunks} is out of range`,
    );
  return { header, values: message.values };
}
