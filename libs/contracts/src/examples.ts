import { z } from 'zod';

/** Version of the binary example layout below; bumped on any change to it. */
export const EXAMPLE_FORMAT_VERSION = 1;

/**
 * What a fitted pipeline version produces for each record: a dense float32 slice (each feature
 * takes `width` consecutive slots, in order), integer-id columns (for embeddings and hashed
 * crosses, each id in [0, cardinality)), and the label.
 */
export const outputSchemaSchema = z.object({
  formatVersion: z.literal(EXAMPLE_FORMAT_VERSION),
  dense: z.array(
    z.object({
      name: z.string(),
      offset: z.number().int().nonnegative(),
      width: z.number().int().positive(),
    }),
  ),
  denseWidth: z.number().int().nonnegative(),
  ids: z.array(z.object({ name: z.string(), cardinality: z.number().int().positive() })),
  label: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('binary') }),
    z.object({ kind: z.literal('class'), classes: z.array(z.string()).min(2) }),
    z.object({ kind: z.literal('numeric') }),
  ]),
});
export type OutputSchema = z.infer<typeof outputSchemaSchema>;
export type LabelKind = OutputSchema['label']['kind'];

/** One encoded example. `label` is NaN when the record had no label (serving). */
export interface Example {
  dense: Float32Array;
  ids: Int32Array;
  label: number;
}

const HEADER_BYTES = 12;

/**
 * Binary layout, little-endian: u16 format version, u16 id count, u32 dense width, f32 label,
 * then the dense float32 values, then the int32 ids. 4-byte aligned throughout.
 */
export function encodeExample(example: Example): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + 4 * (example.dense.length + example.ids.length));
  const view = new DataView(bytes.buffer);
  view.setUint16(0, EXAMPLE_FORMAT_VERSION, true);
  view.setUint16(2, example.ids.length, true);
  view.setUint32(4, example.dense.length, true);
  view.setFloat32(8, example.label, true);
  let offset = HEADER_BYTES;
  for (const value of example.dense) {
    view.setFloat32(offset, value, true);
    offset += 4;
  }
  for (const value of example.ids) {
    view.setInt32(offset, value, true);
    offset += 4;
  }
  return bytes;
}

export class ExampleFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExampleFormatError';
  }
}

export function decodeExample(bytes: Uint8Array): Example {
  if (bytes.byteLength < HEADER_BYTES)
    throw new ExampleFormatError(`example too short: ${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(0, true);
  if (version !== EXAMPLE_FORMAT_VERSION) {
    throw new ExampleFormatError(
      `example format ${version} is not supported (expected ${EXAMPLE_FORMAT_VERSION})`,
    );
  }
  const idCount = view.getUint16(2, true);
  const denseWidth = view.getUint32(4, true);
  const expected = HEADER_BYTES + 4 * (denseWidth + idCount);
  if (bytes.byteLength !== expected) {
    throw new ExampleFormatError(
      `example has ${bytes.byteLength} bytes, its header says ${expected}`,
    );
  }
  const dense = new Float32Array(denseWidth);
  const ids = new Int32Array(idCount);
  let offset = HEADER_BYTES;
  for (let i = 0; i < denseWidth; i += 1, offset += 4) dense[i] = view.getFloat32(offset, true);
  for (let i = 0; i < idCount; i += 1, offset += 4) ids[i] = view.getInt32(offset, true);
  return { dense, ids, label: view.getFloat32(8, true) };
}
