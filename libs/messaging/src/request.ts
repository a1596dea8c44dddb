import { DlnError, errorFromBody, ErrorCode, isErrorBody, parseInput } from '@dln/contracts';
import type { NatsConnection } from '@nats-io/transport-node';
import type { z } from 'zod';
import { decodeJson, encodeJson } from './json-codec';

export interface RequestOptions<T extends z.ZodType> {
  /** Validates the reply; the peer is outside this process, so its answer is an input too. */
  reply: T;
  /** What is being asked, for error messages ("source description"). */
  what: string;
  timeoutMs?: number;
}

/**
 * A JSON request over core NATS. A peer's error body is rethrown as the same DlnError; no
 * responder or no answer in time becomes a retryable Unavailable/Timeout error.
 */
export async function requestJson<T extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  payload: unknown,
  options: RequestOptions<T>,
): Promise<z.infer<T>> {
  let raw: Uint8Array;
  try {
    const msg = await nc.request(subject, encodeJson(payload), {
      timeout: options.timeoutMs ?? 5_000,
    });
    raw = msg.data;
  } catch (cause) {
    const text = cause instanceof Error ? cause.message : String(cause);
    const noResponders = /no responders/i.test(text) || (cause as { code?: string }).code === '503';
    throw new DlnError(
      noResponders ? ErrorCode.Unavailable : ErrorCode.Timeout,
      `${options.what}: ${noResponders ? 'no service answers on ' + subject : 'no answer in time on ' + subject}`,
      { retryable: true, cause },
    );
  }
  const body = decodeJson(raw);
  if (isErrorBody(body)) throw errorFromBody(body);
  return parseInput(options.reply, body, options.what);
}
