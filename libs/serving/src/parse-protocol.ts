import { ErrorBody, errorFromBody, ErrorCode, DlnError } from '@dln/contracts';
import { Verb } from './request';
import { EncodedBatch, EncodingSpec, RequestEncoder } from './request-encoder';

/** main -> parse worker. */
export type ToParser =
  | { type: 'spec'; key: string; spec: EncodingSpec }
  /** `key` encodes exactly as the registered `as` (a next version pinning the same snapshot). */
  | { type: 'same'; key: string; as: string }
  | { type: 'drop'; key: string }
  | { type: 'encode'; id: number; key: string; verb: Verb; body: Uint8Array };

/** parse worker -> main: the encoded rows (buffers transferred), or the error to answer with. */
export type FromParser =
  | { id: number; ok: true; batch: EncodedBatch }
  | { id: number; ok: false; error: ErrorBody['error'] };

function errorOf(error: unknown): ErrorBody['error'] {
  if (error instanceof DlnError) return error.toBody().error;
  const message = error instanceof Error ? error.message : String(error);
  return { code: ErrorCode.Internal, message: `parse worker: ${message}`, retryable: false };
}

/** The worker's side: encoders by version key, one answer per encode request. Pure, so testable in-thread. */
export class ParserState {
  private readonly encoders = new Map<string, RequestEncoder>();

  handle(message: ToParser): FromParser | undefined {
    switch (message.type) {
      case 'spec':
        this.encoders.set(message.key, new RequestEncoder(message.spec));
        return undefined;
      case 'same': {
        const encoder = this.encoders.get(message.as);
        if (encoder) this.encoders.set(message.key, encoder);
        return undefined;
      }
      case 'drop':
        this.encoders.delete(message.key);
        return undefined;
      case 'encode': {
        const encoder = this.encoders.get(message.key);
        try {
          if (!encoder) throw new Error(`no encoder for ${message.key}`);
          return {
            id: message.id,
            ok: true,
            batch: encoder.encodeBytes(message.body, message.verb),
          };
        } catch (error) {
          return { id: message.id, ok: false, error: errorOf(error) };
        }
      }
    }
  }
}

/** Rebuilds the error a worker reported, so it reaches the client like an inline one. */
export function parserError(error: ErrorBody['error']): DlnError {
  return errorFromBody({ error });
}
