import { InputRecord } from '../values';

/** The inputs of a stream pipeline: its events, and the label records when it joins labels. */
export type StreamInput = 'event' | 'label';

/** A record waiting for the watermark. */
export interface TimedRecord {
  input: StreamInput;
  id: string;
  time: number;
  record: InputRecord;
}

export type OfferOutcome = 'accepted' | 'late' | 'duplicate';

/** Serialized EventTimeBuffer. */
export interface EventTimeBufferState {
  maxTime: Partial<Record<StreamInput, number>>;
  buffered: TimedRecord[];
}

const INPUT_RANK: Record<StreamInput, number> = { event: 0, label: 1 };

/** Release order: event time, then events before labels, then record id (code-unit order). */
export function releaseOrder(a: TimedRecord, b: TimedRecord): number {
  if (a.time !== b.time) return a.time - b.time;
  const rank = INPUT_RANK[a.input] - INPUT_RANK[b.input];
  if (rank !== 0) return rank;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Orders records of several inputs by event time under bounded lateness. Per input, the
 * watermark is its max event time - `latenessMs`; a record below its input's watermark is late.
 * The buffer's watermark is the minimum over the inputs (undefined until each has a record);
 * records strictly below it are released, in `releaseOrder`. A record id already buffered for
 * the same input is a duplicate; a copy of a released record has the same time, so it is late.
 */
export class EventTimeBuffer {
  private readonly heap: TimedRecord[] = [];
  private readonly ids = new Set<string>();
  private readonly maxTime = new Map<StreamInput, number>();

  constructor(
    readonly inputs: readonly StreamInput[],
    readonly latenessMs: number,
  ) {}

  static from(
    inputs: readonly StreamInput[],
    latenessMs: number,
    state: EventTimeBufferState,
  ): EventTimeBuffer {
    const buffer = new EventTimeBuffer(inputs, latenessMs);
    for (const input of inputs) {
      const max = state.maxTime[input];
      if (max !== undefined) buffer.maxTime.set(input, max);
    }
    for (const record of state.buffered) buffer.push(record);
    return buffer;
  }

  /** The watermark of one input, or undefined before its first record. */
  inputWatermark(input: StreamInput): number | undefined {
    const max = this.maxTime.get(input);
    return max === undefined ? undefined : max - this.latenessMs;
  }

  /** The minimum over the inputs' watermarks; undefined until every input has had a record. */
  get watermark(): number | undefined {
    let min: number | undefined;
    for (const input of this.inputs) {
      const w = this.inputWatermark(input);
      if (w === undefined) return undefined;
      if (min === undefined || w < min) min = w;
    }
    return min;
  }

  get size(): number {
    return this.heap.length;
  }

  offer(record: TimedRecord): OfferOutcome {
    if (!this.inputs.includes(record.input)) throw new Error(`no input "${record.input}"`);
    if (this.ids.has(`${record.input}:${record.id}`)) return 'duplicate';
    const watermark = this.inputWatermark(record.input);
    if (watermark !== undefined && record.time < watermark) return 'late';
    const max = this.maxTime.get(record.input);
    if (max === undefined || record.time > max) this.maxTime.set(record.input, record.time);
    this.push(record);
    return 'accepted';
  }

  /** Removes and returns, in release order, every record strictly below the watermark. */
  release(): TimedRecord[] {
    const watermark = this.watermark;
    const out: TimedRecord[] = [];
    if (watermark === undefined) return out;
    while (this.heap.length > 0 && (this.heap[0] as TimedRecord).time < watermark)
      out.push(this.pop());
    return out;
  }

  /** Buffered records (unordered view). */
  records(): readonly TimedRecord[] {
    return this.heap;
  }

  state(): EventTimeBufferState {
    const maxTime: Partial<Record<StreamInput, number>> = {};
    for (const [input, max] of this.maxTime) maxTime[input] = max;
    return { maxTime, buffered: [...this.heap].sort(releaseOrder) };
  }

  private push(record: TimedRecord): void {
    this.ids.add(`${record.input}:${record.id}`);
    const heap = this.heap;
    heap.push(record);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (releaseOrder(heap[i] as TimedRecord, heap[parent] as TimedRecord) >= 0) break;
      [heap[i], heap[parent]] = [heap[parent] as TimedRecord, heap[i] as TimedRecord];
      i = parent;
    }
  }

  private pop(): TimedRecord {
    const heap = this.heap;
    const top = heap[0] as TimedRecord;
    const last = heap.pop() as TimedRecord;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (
          l < heap.length &&
          releaseOrder(heap[l] as TimedRecord, heap[smallest] as TimedRecord) < 0
        )
          smallest = l;
        if (
          r < heap.length &&
          releaseOrder(heap[r] as TimedRecord, heap[smallest] as TimedRecord) < 0
        )
          smallest = r;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest] as TimedRecord, heap[i] as TimedRecord];
        i = smallest;
      }
    }
    this.ids.delete(`${top.input}:${top.id}`);
    return top;
  }
}
