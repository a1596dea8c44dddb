/**
 * FNV-1a, 32 bits, over the UTF-8 bytes of `text` (offset basis 2166136261, prime 16777619),
 * as an unsigned integer. Stable across processes and languages: partitions and splits depend
 * on it, so it must never change.
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  const step = (byte: number): void => {
    hash = Math.imul(hash ^ byte, 0x01000193);
  };
  for (let i = 0; i < text.length; i += 1) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      step(code);
    } else if (code < 0x800) {
      step(0xc0 | (code >> 6));
      step(0x80 | (code & 0x3f));
    } else {
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
        const low = text.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          i += 1;
        }
      }
      if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd; // lone surrogate: UTF-8 encoders write U+FFFD
      if (code < 0x10000) {
        step(0xe0 | (code >> 12));
      } else {
        step(0xf0 | (code >> 18));
        step(0x80 | ((code >> 12) & 0x3f));
      }
      step(0x80 | ((code >> 6) & 0x3f));
      step(0x80 | (code & 0x3f));
    }
  }
  return hash >>> 0;
}

/**
 * Partition of a record from its (normalized) partition-key value: fnv1a32 of the value's
 * canonical text modulo `partitions`; null and single-partition sources go to 0.
 */
export function partitionOf(value: string | number | boolean | null, partitions: number): number {
  if (partitions <= 1 || value === null) return 0;
  return fnv1a32(typeof value === 'string' ? value : String(value)) % partitions;
}
