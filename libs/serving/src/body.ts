import { ValidationError } from '@dln/contracts';

const NON_FINITE = /-?(?:NaN|Infinity)/y;

/** Offset of the first NaN / Infinity token outside a string, or -1. */
function nonFiniteToken(text: string): { at: number; token: string } | undefined {
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i += 1; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 78 || c === 73 || c === 45) {
      NON_FINITE.lastIndex = i;
      const match = NON_FINITE.exec(text);
      if (match) return { at: i, token: match[0] };
    }
  }
  return undefined;
}

/**
 * Parses a request body given as bytes or text. JSON has no NaN or Infinity; when a client sends
 * them anyway (as Python's json module does), the error says so instead of "unexpected token".
 */
export function parseJsonBody(raw: Uint8Array | string): unknown {
  const text =
    typeof raw === 'string'
      ? raw
      : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  if (text.trim() === '')
    throw new ValidationError('the request body is empty: send a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const found = nonFiniteToken(text);
    if (found) {
      throw new ValidationError(
        `malformed JSON: ${found.token} at position ${found.at} is not a number JSON can carry; send finite numbers (or null for a missing value)`,
      );
    }
    throw new ValidationError(
      `malformed JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
