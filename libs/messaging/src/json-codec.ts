const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses a JSON payload; returns `undefined` for an empty one. Throws SyntaxError on bad JSON. */
export function decodeJson(data: Uint8Array): unknown {
  if (data.byteLength === 0) return undefined;
  return JSON.parse(decoder.decode(data)) as unknown;
}
