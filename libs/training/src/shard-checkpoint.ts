import { OptimizerSettings } from '@dln/contracts';
import { decodeTensorMessage, encodeTensorMessage, OptimizerState, optimizerSlots } from '@dln/ml';
import { z } from 'zod';

/** Everything a ps shard needs to continue where it stopped. */
export interface ShardState {
  jobId: string;
  generation: number;
  shard: number;
  /** Sync steps applied (the next step to apply). */
  step: number;
  /** Updates applied to the variables (sync: steps with examples; async: pushes). */
  updateCount: number;
  params: Float32Array;
  optimizer: OptimizerState;
  /** Last step acknowledged to each worker role: where a restarted worker resumes. */
  positions: Record<string, number>;
  /**
   * Stream training: the stream sequences whose batches were applied, as sorted disjoint
   * inclusive ranges (absent in checkpoints of batch jobs and of older versions: none).
   */
  streamSequences?: [number, number][];
}

const FORMAT = 'dln-ps-shard';
const counter = z.number().int().min(0);
const headerSchema = z.strictObject({
  format: z.literal(FORMAT),
  version: z.literal(1),
  jobId: z.string().min(1).max(64),
  generation: counter,
  shard: counter,
  step: counter,
  updateCount: counter,
  size: counter,
  optimizer: z.strictObject({
    kind: z.enum(['sgd', 'momentum', 'adam']),
    step: counter,
    slots: z.array(z.string()).max(8),
  }),
  positions: z.record(z.string().max(16), counter),
  /** Ranges of applied stream sequences stored after the slots (SEQUENCE_FLOATS floats each). */
  streamRanges: counter.optional(),
});

/**
 * A stream sequence (up to 2^53) as two float32 that hold it exactly: seq / 2^24 and seq % 2^24
 * (float32 is exact for integers below 2^24; the high part stays below 2^29).
 */
const SEQUENCE_SPLIT = 2 ** 24;
/** Floats per stored range: first (high, low), last (high, low). */
const SEQUENCE_FLOATS = 4;

function writeRanges(ranges: readonly [number, number][], into: Float32Array, at: number): void {
  ranges.forEach(([first, last], i) => {
    const base = at + i * SEQUENCE_FLOATS;
    into[base] = Math.floor(first / SEQUENCE_SPLIT);
    into[base + 1] = first % SEQUENCE_SPLIT;
    into[base + 2] = Math.floor(last / SEQUENCE_SPLIT);
    into[base + 3] = last % SEQUENCE_SPLIT;
  });
}

function readRanges(values: Float32Array, at: number, count: number): [number, number][] {
  return Array.from({ length: count }, (_, i) => {
    const base = at + i * SEQUENCE_FLOATS;
    const part = (offset: number): number => values[base + offset] as number;
    return [part(0) * SEQUENCE_SPLIT + part(1), part(2) * SEQUENCE_SPLIT + part(3)];
  });
}

/** One blob: a JSON header, then the parameters and each optimizer slot as float32. */
export function encodeShardState(state: ShardState): Uint8Array {
  const slots = optimizerSlots(state.optimizer.kind);
  const size = state.params.length;
  const ranges = state.streamSequences ?? [];
  for (const [first, last] of ranges) {
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 1 || last < first)
      throw new Error(`bad stream sequence range [${first}, ${last}]`);
  }
  const values = new Float32Array(size * (1 + slots.length) + ranges.length * SEQUENCE_FLOATS);
  values.set(state.params, 0);
  slots.forEach((name, index) => {
    const slot = state.optimizer.slots[name];
    if (!slot || slot.length !== size)
      throw new Error(`optimizer slot ${name} is missing or has the wrong size`);
    values.set(slot, size * (index + 1));
  });
  writeRanges(ranges, values, size * (1 + slots.length));
  const header: z.infer<typeof headerSchema> = {
    format: FORMAT,
    version: 1,
    jobId: state.jobId,
    generation: state.generation,
    shard: state.shard,
    step: state.step,
    updateCount: state.updateCount,
    size,
    optimizer: { kind: state.optimizer.kind, step: state.optimizer.step, slots: [...slots] },
    positions: state.positions,
    ...(ranges.length > 0 ? { streamRanges: ranges.length } : {}),
  };
  return encodeTensorMessage(header, values);
}

/** Reads a blob written by encodeShardState; checks it against the settings it will serve. */
export function decodeShardState(bytes: Uint8Array, optimizer: OptimizerSettings): ShardState {
  // Blobs read from a store may sit at any offset of a shared buffer: float32 needs alignment.
  const message = decodeTensorMessage(bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes));
  const parsed = headerSchema.safeParse(message.header);
  if (!parsed.success) throw new Error(`not a ps shard checkpoint: ${parsed.error.message}`);
  const header = parsed.data;
  if (header.optimizer.kind !== optimizer.kind) {
    throw new Error(
      `checkpoint holds ${header.optimizer.kind} state, the job uses ${optimizer.kind}`,
    );
  }
  const slots = header.optimizer.slots;
  const ranges = header.streamRanges ?? 0;
  const expected = header.size * (1 + slots.length) + ranges * SEQUENCE_FLOATS;
  if (message.values.length !== expected) {
    throw new Error(
      `checkpoint holds ${message.values.length} values, its header says ${expected}`,
    );
  }
  const size = header.size;
  const slice = (index: number): Float32Array =>
    message.values.slice(size * index, size * (index + 1));
  return {
    jobId: header.jobId,
    generation: header.generation,
    shard: header.shard,
    step: header.step,
    updateCount: header.updateCount,
    params: slice(0),
    optimizer: {
      kind: header.optimizer.kind,
      step: header.optimizer.step,
      slots: Object.fromEntries(slots.map((name, index) => [name, slice(index + 1)])),
    },
    positions: header.positions,
    ...(ranges > 0
      ? { streamSequences: readRanges(message.values, header.size * (1 + slots.length), ranges) }
      : {}),
  };
}
