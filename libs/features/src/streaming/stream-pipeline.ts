import {
  decodeExample,
  encodeExample,
  Example,
  KeyAggregateState,
  StreamPipelineSpec,
  StreamSnapshot,
} from '@dln/contracts';
import { labelOf } from '../label';
import {
  InputRecord,
  MISSING,
  readCategory,
  readNumber,
  readTimestamp,
  RecordEncodeError,
} from '../values';
import {
  EventTimeBuffer,
  EventTimeBufferOptions,
  EventTimeBufferState,
  OfferOutcome,
  StreamInput,
  TimedRecord,
} from './event-time-buffer';
import { LabelJoiner } from './label-joiner';
import { buildStreamSnapshot, StreamEncoder } from './stream-encoder';
import { StreamStatistics, StreamStatisticsState } from './stream-statistics';
import { aggregateValue, WindowAggregator, WindowAggregatorState } from './windows';

/** One example the stream emits (one per event): msg id `<pipeline>:<eventId>`. */
export interface StreamExample {
  eventId: string;
  time: number;
  label: number;
  snapshotVersion: number;
  bytes: Uint8Array;
}

export interface StreamCounters {
  events: number;
  labels: number;
  late: number;
  duplicates: number;
  rejected: number;
  examples: number;
  positives: number;
  negatives: number;
  unmatchedLabels: number;
  duplicateLabels: number;
}

/** Serialized StreamPipeline (plain JSON): restoring it continues exactly where it was. */
export interface StreamPipelineState {
  stateVersion: 1;
  snapshotVersion: number;
  buffer: EventTimeBufferState;
  aggregates: WindowAggregatorState[];
  /** Events waiting for a label: the encoded example (label NaN), base64. */
  pending: {
    id: string;
    key: string;
    time: number;
    labeled: boolean;
    version: number;
    example: string;
  }[];
  statistics: StreamStatisticsState;
  counters: StreamCounters;
}

/** Where a pipeline's records come from (see EventTimeBufferOptions). */
export type StreamPipelineOptions = Pick<EventTimeBufferOptions, 'partitions' | 'now'>;

interface Encoded {
  example: Example;
  version: number;
}

/** Version 1 of a stream pipeline's snapshot: statistics over no records yet. */
export function initialStreamSnapshot(spec: StreamPipelineSpec, createdAt: string): StreamSnapshot {
  return buildStreamSnapshot({
    pipeline: spec.name,
    version: 1,
    createdAt,
    records: 0,
    base: new StreamStatistics(spec).snapshot(),
    aggregates: spec.aggregates,
  });
}

const zeroCounters = (): StreamCounters => ({
  events: 0,
  labels: 0,
  late: 0,
  duplicates: 0,
  rejected: 0,
  examples: 0,
  positives: 0,
  negatives: 0,
  unmatchedLabels: 0,
  duplicateLabels: 0,
});

/**
 * A streaming pipeline of one partition group as a pure state machine: `offer` records of the
 * inputs (any arrival order), `drain` the examples the watermark allows. Aggregates, statistics
 * and joins are updated in release order (README "Streaming"), so the output does not depend on
 * arrival order within the lateness, and a restored state continues exactly.
 */
export class StreamPipeline {
  readonly counters: StreamCounters;
  lastRejection: string | undefined;
  private readonly buffer: EventTimeBuffer;
  private readonly aggregators: WindowAggregator[];
  private readonly joiner: LabelJoiner<Encoded> | undefined;
  private readonly statistics: StreamStatistics;
  private encoder: StreamEncoder;
  /** Keys per aggregate whose pending (unreleased) events changed since `servingStates`. */
  private readonly pendingDirty: Set<string>[];

  constructor(
    readonly spec: StreamPipelineSpec,
    snapshot: StreamSnapshot,
    state?: StreamPipelineState,
    options: StreamPipelineOptions = {},
  ) {
    if (state && state.snapshotVersion !== snapshot.version) {
      throw new Error(
        `state was encoding with snapshot ${state.snapshotVersion}, given ${snapshot.version}`,
      );
    }
    const inputs: StreamInput[] = spec.join ? ['event', 'label'] : ['event'];
    const bufferOptions = { ...options, idleTimeoutMs: spec.idleTimeoutMs };
    this.buffer = state
      ? EventTimeBuffer.from(inputs, spec.latenessMs, state.buffer, bufferOptions)
      : new EventTimeBuffer(inputs, spec.latenessMs, bufferOptions);
    this.aggregators = spec.aggregates.map((a, i) =>
      state ? WindowAggregator.from(a, state.aggregates[i] ?? {}) : new WindowAggregator(a),
    );
    this.pendingDirty = spec.aggregates.map(() => new Set());
    if (spec.join) {
      const pending = (state?.pending ?? []).map(({ example, version, ...rest }) => ({
        ...rest,
        payload: { example: decodeExample(Buffer.from(example, 'base64')), version },
      }));
      this.joiner = LabelJoiner.from(spec.join.windowMs, pending);
    }
    this.statistics = new StreamStatistics(spec, state?.statistics);
    this.counters = state ? { ...state.counters } : zeroCounters();
    this.encoder = new StreamEncoder(snapshot);
  }

  get watermark(): number | undefined {
    return this.buffer.watermark;
  }

  get snapshotVersion(): number {
    return this.encoder.snapshot.version;
  }

  get buffered(): number {
    return this.buffer.size;
  }

  get pendingJoins(): number {
    return this.joiner?.size ?? 0;
  }

  /** Records the statistics have seen (the leader publishes a snapshot every N of them). */
  get statisticsRecords(): number {
    return this.statistics.recordCount;
  }

  /** Encode from now on with this snapshot (taken at a checkpoint, so restores are exact). */
  useSnapshot(snapshot: StreamSnapshot): void {
    this.encoder = new StreamEncoder(snapshot);
  }

  /** A snapshot version from the current running statistics. */
  buildSnapshot(version: number, createdAt: string): StreamSnapshot {
    return buildStreamSnapshot({
      pipeline: this.spec.name,
      version,
      createdAt,
      records: this.statistics.recordCount,
      base: this.statistics.snapshot(),
      aggregates: this.spec.aggregates,
    });
  }

  /**
   * Takes one record of an input partition at processing time `now` (only idleness reads it); a
   * record without a usable time, key or label is rejected.
   */
  offer(
    input: StreamInput,
    id: string,
    record: InputRecord,
    partition = 0,
    now?: number,
  ): OfferOutcome | 'rejected' {
    let time: number;
    let keys: string[] = [];
    try {
      time = this.timeOf(input, record);
      if (input === 'event') keys = this.aggregateInputs(record).map((a) => a.key);
      else this.labelInputs(record);
    } catch (err) {
      if (!(err instanceof RecordEncodeError)) throw err;
      this.counters.rejected += 1;
      this.lastRejection = `${input} "${id}": ${err.message}`;
      return 'rejected';
    }
    const outcome = this.buffer.offer({ input, id, time, record, partition }, now);
    if (outcome === 'late') this.counters.late += 1;
    else if (outcome === 'duplicate') this.counters.duplicates += 1;
    else if (input === 'event') {
      this.counters.events += 1;
      this.pendingDirty.forEach((dirty, i) => dirty.add(keys[i] as string));
    } else this.counters.labels += 1;
    return outcome;
  }

  /**
   * Releases what the watermark allows at processing time `now` (call it also when no record
   * comes, so that idle partitions stop holding the watermark); returns the examples it completes.
   */
  drain(now?: number): StreamExample[] {
    const released = this.buffer.release(now);
    const out: StreamExample[] = [];
    let i = 0;
    while (i < released.length) {
      const first = released[i] as TimedRecord;
      // Windows that closed before this record end first: the examples come in one order
      // however the watermark advanced (in one step or many).
      this.expire(first.time, out);
      if (first.input === 'label') {
        this.releaseLabel(first, out);
        i += 1;
        continue;
      }
      let j = i;
      while (
        j < released.length &&
        released[j]?.input === 'event' &&
        released[j]?.time === first.time
      )
        j += 1;
      this.releaseEvents(released.slice(i, j), out);
      i = j;
    }
    const watermark = this.buffer.watermark;
    if (watermark !== undefined) {
      this.expire(watermark, out);
      for (const aggregator of this.aggregators) aggregator.prune(watermark);
    }
    return out;
  }

  /** Events whose join window closed at or before `time` and got no label: negatives. */
  private expire(time: number, out: StreamExample[]): void {
    for (const event of this.joiner?.expire(time) ?? []) {
      this.counters.negatives += 1;
      out.push(this.emit(event.id, event.time, event.payload, 0));
    }
  }

  /** Per-key aggregate states changed since the last call, for the serving view. */
  servingStates(): { feature: string; key: string; state: KeyAggregateState }[] {
    const watermark = this.buffer.watermark ?? null;
    const out: { feature: string; key: string; state: KeyAggregateState }[] = [];
    this.aggregators.forEach((aggregator, a) => {
      const keys = new Set([...aggregator.takeDirty(), ...(this.pendingDirty[a] as Set<string>)]);
      (this.pendingDirty[a] as Set<string>).clear();
      if (keys.size === 0) return;
      const pending = new Map<string, [number, number][]>();
      for (const record of this.buffer.records()) {
        if (record.input !== 'event') continue;
        const input = this.aggregateInputs(record.record)[a] as { key: string; value: number };
        if (!keys.has(input.key)) continue;
        const list = pending.get(input.key) ?? [];
        list.push([record.time, input.value]);
        pending.set(input.key, list);
      }
      for (const key of [...keys].sort()) {
        const list = (pending.get(key) ?? []).sort((x, y) => x[0] - y[0]);
        out.push({
          feature: aggregator.spec.name,
          key,
          state: { watermark, buckets: aggregator.bucketsOf(key), pending: list },
        });
      }
    });
    return out;
  }

  state(): StreamPipelineState {
    return {
      stateVersion: 1,
      snapshotVersion: this.encoder.snapshot.version,
      buffer: this.buffer.state(),
      aggregates: this.aggregators.map((a) => a.state()),
      pending: (this.joiner?.pending() ?? []).map((e) => ({
        id: e.id,
        key: e.key,
        time: e.time,
        labeled: e.labeled,
        version: e.payload.version,
        example: Buffer.from(encodeExample(e.payload.example)).toString('base64'),
      })),
      statistics: this.statistics.state(),
      counters: { ...this.counters },
    };
  }

  private releaseEvents(events: TimedRecord[], out: StreamExample[]): void {
    // Every event of one instant reads the aggregates before any of them is added: strictly before.
    const encoded = events.map((event) => {
      const inputs = this.aggregateInputs(event.record);
      const values = this.aggregators.map((aggregator, a) =>
        aggregateValue(
          aggregator.spec,
          aggregator.totals((inputs[a] as { key: string }).key, event.time),
        ),
      );
      try {
        const labels = this.joiner ? 'optional' : 'required';
        return {
          event,
          inputs,
          example: this.encoder.encode(event.record, values, labels, event.id),
        };
      } catch (err) {
        if (!(err instanceof RecordEncodeError)) throw err;
        this.counters.rejected += 1;
        this.lastRejection = err.message;
        return undefined;
      }
    });
    for (const item of encoded) {
      if (!item) continue;
      const { event, inputs, example } = item;
      this.aggregators.forEach((aggregator, a) => {
        const input = inputs[a] as { key: string; value: number };
        aggregator.add(input.key, event.time, input.value);
      });
      this.statistics.addRecord(event.record);
      const payload = { example, version: this.encoder.snapshot.version };
      if (this.joiner && this.spec.join) {
        const key = readCategory(event.record, this.spec.join.eventKey, 'join key') as string;
        this.joiner.addEvent(event.id, key, event.time, payload);
      } else {
        if (example.label > 0) this.counters.positives += 1;
        else this.counters.negatives += 1;
        out.push(this.emit(event.id, event.time, payload, example.label));
      }
    }
  }

  private releaseLabel(label: TimedRecord, out: StreamExample[]): void {
    const { key, value } = this.labelInputs(label.record);
    const outcome = this.joiner?.addLabel(key, label.time) ?? { kind: 'unmatched' as const };
    if (outcome.kind === 'unmatched') this.counters.unmatchedLabels += 1;
    else if (outcome.kind === 'duplicate') this.counters.duplicateLabels += 1;
    else {
      if (value > 0) this.counters.positives += 1;
      else this.counters.negatives += 1;
      const { event } = outcome;
      out.push(this.emit(event.id, event.time, event.payload, value));
    }
  }

  private emit(eventId: string, time: number, payload: Encoded, label: number): StreamExample {
    this.counters.examples += 1;
    this.statistics.addLabel(label);
    const bytes = encodeExample({ ...payload.example, label });
    return { eventId, time, label, snapshotVersion: payload.version, bytes };
  }

  private timeOf(input: StreamInput, record: InputRecord): number {
    const field = input === 'event' ? this.spec.eventTime : (this.spec.join?.labelTime as string);
    const time = readTimestamp(record, field, `${input} time`);
    if (time === MISSING)
      throw new RecordEncodeError(`${input} time`, field, 'the record has no time');
    return time;
  }

  /** The key and value each aggregate reads from an event (value 1 for a count). */
  private aggregateInputs(record: InputRecord): { key: string; value: number }[] {
    const inputs = this.spec.aggregates.map((a) => {
      const key = readCategory(record, a.key, a.name);
      if (key === MISSING)
        throw new RecordEncodeError(a.name, a.key, 'the aggregate key is missing');
      if (a.aggregate === 'count' || a.field === undefined) return { key, value: 1 };
      const value = readNumber(record, a.field, a.name);
      if (value === MISSING)
        throw new RecordEncodeError(a.name, a.field, 'the aggregated value is missing');
      return { key, value };
    });
    const join = this.spec.join;
    if (join && readCategory(record, join.eventKey, 'join key') === MISSING) {
      throw new RecordEncodeError('join key', join.eventKey, 'the event has no join key');
    }
    return inputs;
  }

  private labelInputs(record: InputRecord): { key: string; value: number } {
    const join = this.spec.join as NonNullable<StreamPipelineSpec['join']>;
    const key = readCategory(record, join.labelKey, 'label key');
    if (key === MISSING)
      throw new RecordEncodeError('label key', join.labelKey, 'the label has no key');
    const value = labelOf(record, this.spec.label, undefined);
    if (value === MISSING)
      throw new RecordEncodeError('label', this.spec.label.field, 'the label is missing');
    return { key, value };
  }
}
