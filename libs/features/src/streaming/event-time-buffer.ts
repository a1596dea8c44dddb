import { InputRecord } from '../values';
import { RecordHeap } from './record-heap';

/** The inputs of a stream pipeline: its events, and the label records when it joins them. */
export type StreamInput = 'event' | 'label';

/** A record waiting for the watermark. */
export interface TimedRecord {
  input: StreamInput;
  id: string;
  time: number;
  record: InputRecord;
  /** Raw partition of the input it came from (0 when the source has one). */
  partition?: number;
}

export type OfferOutcome = 'accepted' | 'late' | 'duplicate';

/** Serialized EventTimeBuffer. */
export interface EventTimeBufferState {
  /** Max event time per input (kept for states written before per-partition watermarks). */
  maxTime: Partial<Record<StreamInput, number>>;
  /** Max event time per input partition, by `<input>.<partition>`. */
  partitionMax?: Record<string, number>;
  /** The watermark records were released up to (nothing below it is accepted any more). */
  releasedTo?: number | null;
  buffered: TimedRecord[];
}

/** How a buffer learns about its input partitions and when one stops holding the watermark. */
export interface EventTimeBufferOptions {
  /** Partitions of each input this buffer consumes (default: partition 0 of each input). */
  partitions?: Partial<Record<StreamInput, readonly number[]>>;
  /**
   * A partition with no record for this long (processing time, ms) is idle: it stops holding
   * the watermark until its next record. 0: never idle.
   */
  idleTimeoutMs?: number;
  /** Processing time at creation or restore: idleness of a partition is measured from it. */
  now?: number;
}

const INPUT_RANK: Record<StreamInput, number> = { event: 0, label: 1 };

/** Release order: event time, then events before labels, then record id (code-unit order). */
export function releaseOrder(a: TimedRecord, b: TimedRecord): number {
  if (a.time !== b.time) return a.time - b.time;
  const rank = INPUT_RANK[a.input] - INPUT_RANK[b.input];
  if (rank !== 0) return rank;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

interface PartitionClock {
  input: StreamInput;
  max: number | undefined;
  /** Processing time of its last record (or of the buffer's creation). */
  lastSeen: number;
}

const partitionKey = (input: StreamInput, partition: number): string => `${input}.${partition}`;

/**
 * Orders records of several inputs, each read from one or more raw partitions, by event time
 * under bounded lateness. PER PARTITION: its watermark is its max event time - `latenessMs`, and
 * a record below its own partition's watermark is late, so lateness is decided by each
 * partition's own (fixed) order and a replay decides the same way whatever the interleaving of
 * the partitions. The buffer's watermark is the minimum over the partitions that are not idle
 * (a partition without a record yet holds it, until it is idle); when all are idle, over those
 * whose last record came last (as partitions go idle in that order); it never moves back. Records
 * strictly below it are released, in `releaseOrder`; a record below what was released already
 * (possible only from a partition that was idle) is late too. A record id already buffered for
 * the same input is a duplicate; a copy of a released record is late.
 */
export class EventTimeBuffer {
  private readonly heap = new RecordHeap<TimedRecord>(releaseOrder);
  private readonly ids = new Set<string>();
  private readonly clocks = new Map<string, PartitionClock>();
  private readonly idleTimeoutMs: number;
  private now: number;
  private releasedTo: number | undefined;

  constructor(
    readonly inputs: readonly StreamInput[],
    readonly latenessMs: number,
    options: EventTimeBufferOptions = {},
  ) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.now = options.now ?? 0;
    for (const input of inputs)
      for (const partition of options.partitions?.[input] ?? [0]) this.clock(input, partition);
  }

  static from(
    inputs: readonly StreamInput[],
    latenessMs: number,
    state: EventTimeBufferState,
    options: EventTimeBufferOptions = {},
  ): EventTimeBuffer {
    const buffer = new EventTimeBuffer(inputs, latenessMs, options);
    if (state.partitionMax) {
      for (const [key, max] of Object.entries(state.partitionMax)) {
        const [input, partition] = key.split('.') as [StreamInput, string];
        if (inputs.includes(input)) buffer.clock(input, Number(partition)).max = max;
      }
    } else {
      // A state from before per-partition watermarks: every partition starts at its input's max.
      for (const clock of buffer.clocks.values()) clock.max = state.maxTime[clock.input];
    }
    buffer.releasedTo = state.releasedTo ?? undefined;
    for (const record of state.buffered) buffer.push(record);
    return buffer;
  }

  /** The watermark of one input partition, or undefined before its first record. */
  partitionWatermark(input: StreamInput, partition = 0): number | undefined {
    const max = this.clocks.get(partitionKey(input, partition))?.max;
    return max === undefined ? undefined : max - this.latenessMs;
  }

  /** The lowest watermark over an input's partitions, or undefined before each had a record. */
  inputWatermark(input: StreamInput): number | undefined {
    let min: number | undefined;
    for (const clock of this.clocks.values()) {
      if (clock.input !== input) continue;
      if (clock.max === undefined) return undefined;
      min = Math.min(min ?? Infinity, clock.max - this.latenessMs);
    }
    return min;
  }

  /**
   * The minimum over the partitions not idle at the last processing time seen (undefined while
   * one of them has had no record). When every partition is idle: the minimum over those whose
   * last record came last, what the watermark was just before they went idle too (so it does
   * not depend on when drains ran). Never below what was released.
   */
  get watermark(): number | undefined {
    let active: number | undefined;
    let anyActive = false;
    let latest = -Infinity;
    for (const clock of this.clocks.values()) {
      const idle = this.isIdle(clock);
      if (!idle) anyActive = true;
      if (clock.max !== undefined && clock.lastSeen > latest) latest = clock.lastSeen;
      if (idle) continue;
      if (clock.max === undefined) return this.releasedTo;
      active = Math.min(active ?? Infinity, clock.max - this.latenessMs);
    }
    let computed = active;
    if (!anyActive) {
      for (const clock of this.clocks.values()) {
        if (clock.max === undefined || clock.lastSeen !== latest) continue;
        computed = Math.min(computed ?? Infinity, clock.max - this.latenessMs);
      }
    }
    if (computed === undefined) return this.releasedTo;
    return this.releasedTo === undefined ? computed : Math.max(this.releasedTo, computed);
  }

  get size(): number {
    return this.heap.size;
  }

  /** Takes a record at processing time `now` (idleness; omit it when there is no idle timeout). */
  offer(record: TimedRecord, now?: number): OfferOutcome {
    if (!this.inputs.includes(record.input)) throw new Error(`no input "${record.input}"`);
    this.advance(now);
    const clock = this.clock(record.input, record.partition ?? 0);
    clock.lastSeen = this.now;
    // Lateness first, by the record's own partition: a replay decides it the same way.
    if (clock.max !== undefined && record.time < clock.max - this.latenessMs) return 'late';
    if (this.releasedTo !== undefined && record.time < this.releasedTo) return 'late';
    if (this.ids.has(`${record.input}:${record.id}`)) return 'duplicate';
    if (clock.max === undefined || record.time > clock.max) clock.max = record.time;
    this.push(record);
    return 'accepted';
  }

  /** Removes and returns, in release order, every record strictly below the watermark at `now`. */
  release(now?: number): TimedRecord[] {
    this.advance(now);
    const watermark = this.watermark;
    const out: TimedRecord[] = [];
    if (watermark === undefined) return out;
    this.releasedTo = watermark;
    for (let top = this.heap.peek(); top !== undefined && top.time < watermark;) {
      const record = this.heap.pop() as TimedRecord;
      this.ids.delete(`${record.input}:${record.id}`);
      out.push(record);
      top = this.heap.peek();
    }
    return out;
  }

  /** Buffered records (unordered view). */
  records(): readonly TimedRecord[] {
    return this.heap.items();
  }

  state(): EventTimeBufferState {
    const maxTime: Partial<Record<StreamInput, number>> = {};
    const partitionMax: Record<string, number> = {};
    for (const [key, clock] of this.clocks) {
      if (clock.max === undefined) continue;
      partitionMax[key] = clock.max;
      maxTime[clock.input] = Math.max(maxTime[clock.input] ?? -Infinity, clock.max);
    }
    return {
      maxTime,
      partitionMax,
      releasedTo: this.releasedTo ?? null,
      buffered: [...this.heap.items()].sort(releaseOrder),
    };
  }

  private advance(now: number | undefined): void {
    if (now !== undefined && now > this.now) this.now = now;
  }

  private isIdle(clock: PartitionClock): boolean {
    return this.idleTimeoutMs > 0 && this.now - clock.lastSeen >= this.idleTimeoutMs;
  }

  private clock(input: StreamInput, partition: number): PartitionClock {
    const key = partitionKey(input, partition);
    let clock = this.clocks.get(key);
    if (!clock) {
      clock = { input, max: undefined, lastSeen: this.now };
      this.clocks.set(key, clock);
    }
    return clock;
  }

  private push(record: TimedRecord): void {
    this.ids.add(`${record.input}:${record.id}`);
    this.heap.push(record);
  }
}
