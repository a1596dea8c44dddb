/**
 * The one hash of the feature transforms: MurmurHash3 x86 32-bit (Austin Appleby's reference,
 * `MurmurHash3_x86_32`) over the UTF-8 bytes of a string, as an unsigned 32-bit integer.
 * Categorical hashing, crosses and the train/validation split all use it, so training and
 * serving agree bit for bit; changing it changes every fitted pipeline.
 */
const encoder = new TextEncoder();
let scratch = new Uint8Array(256);

function utf8(text: string): Uint8Array {
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
  const { written } = encoder.encodeInto(text, scratch);
  return scratch.subarray(0, written);
}

export function murmur3(text: string, seed = 0): number {
  const bytes = utf8(text);
  const length = bytes.length;
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k =
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = length & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= (bytes[blocks + 2] as number) << 16;
    if (tail >= 2) k ^= (bytes[blocks + 1] as number) << 8;
    k ^= bytes[blocks] as number;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Bucket of a categorical value: murmur3(value) mod buckets. */
export function hashBucket(value: string, buckets: number): number {
  return murmur3(value) % buckets;
}

/**
 * Bucket of a cross: the hash of the JSON array of the component values, in the order of the
 * cross's fields (JSON keeps ["a,b","c"] and ["a","b,c"] apart).
 */
export function crossBucket(values: readonly string[], buckets: number): number {
  return murmur3(JSON.stringify(values)) % buckets;
}

/**
 * Deterministic split of a record by its id: validation when murmur3(key) / 2^32 is below the
 * fraction, key = id, or `${seed}:${id}` when a seed is given. Because the test is a threshold,
 * the validation set of a smaller fraction is contained in that of a larger one.
 */
export function splitOf(
  recordId: string,
  validationFraction: number,
  seed = '',
): 'train' | 'validation' {
  const key = seed === '' ? recordId : `${seed}:${recordId}`;
  return murmur3(key) < validationFraction * 4294967296 ? 'validation' : 'train';
}
