import {
  RecordHeader,
  SourceDescription,
  StreamCheckpointManifest,
  StreamGroupStatus,
  StreamPipelineSpec,
  StreamSnapshot,
  Subjects,
} from '@dln/contracts';
import {
  initialStreamSnapshot,
  recordIdOf,
  StreamInput,
  StreamPipeline,
  StreamPipelineState,
} from '@dln/features';
import { decodeJson, jetStreamManagerOf, jetStreamOf, NatsConnection } from '@dln/messaging';
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { Logger } from '@nestjs/common';
import { StreamExamplesPublisher } from './stream-examples-publisher';
import { StreamStore } from './stream-store';

export interface StreamRunnerOptions {
  group: number;
  groups: number;
  checkpointMs: number;
  maxAckPending: number;
  ackWaitMs: number;
  examplesInFlight: number;
}

/** A group's checkpoint: the pipeline state and, per input partition, the last applied sequence. */
interface GroupCheckpoint {
  positions: Record<string, number>;
  pipeline: StreamPipelineState;
}

interface Feed {
  input: StreamInput;
  partition: number;
  source: SourceDescription;
  durable: string;
}

/**
 * Runs one partition group of a stream pipeline: a durable consumer per raw partition it owns
 * (partition p belongs to group p % groups), the pure StreamPipeline, and a checkpoint every
 * `checkpointMs`. EXACTLY-ONCE STATE: the checkpoint holds each partition's last applied stream
 * sequence with the state; a restart consumes from the sequence after it, and a message at or
 * below it (a redelivery) is skipped, so no message is applied twice or skipped. Raw messages are acknowledged (AckPolicy.All) only after
 * the checkpoint that covers them is written, and the checkpoint is written only after every
 * example it emitted is stored: a crash replays from the last checkpoint, and the replayed
 * examples are the same messages, dropped by their msg id. WATERMARKS are per partition (the
 * pipeline is told which partitions this group owns); the checkpoint timer also drains, so a
 * partition that went idle (spec `idleTimeoutMs`) stops holding the watermark without a record.
 */
export class StreamRunner {
  private readonly logger: Logger;
  private pipeline!: StreamPipeline;
  private positions: Record<string, number> = {};
  private readonly lastMsg = new Map<string, JsMsg>();
  private readonly feeds: Feed[] = [];
  private readonly iterators: ConsumerMessages[] = [];
  private loops: Promise<void>[] = [];
  private publisher: StreamExamplesPublisher;
  private manifest: StreamCheckpointManifest | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> | undefined;
  private stopped = false;
  private rejectionsLogged = 0;
  failure: string | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly store: StreamStore,
    readonly spec: StreamPipelineSpec,
    sources: { event: SourceDescription; label?: SourceDescription },
    private readonly options: StreamRunnerOptions,
  ) {
    this.logger = new Logger(`StreamRunner ${spec.name} g${options.group}of${options.groups}`);
    this.publisher = new StreamExamplesPublisher(nc, subjects, spec.name, options.examplesInFlight);
    const inputs: [StreamInput, SourceDescription | undefined][] = [
      ['event', sources.event],
      ['label', sources.label],
    ];
    for (const [input, source] of inputs) {
      if (!source) continue;
      for (let p = 0; p < source.declaration.partitions; p += 1) {
        if (p % options.groups !== options.group) continue;
        const durable = `sp_${spec.name}_${input}_${options.group}of${options.groups}_p${p}`;
        this.feeds.push({ input, partition: p, source, durable });
      }
    }
  }

  get partitions(): number[] {
    return [...new Set(this.feeds.map((f) => f.partition))].sort((a, b) => a - b);
  }

  /** Restores the last checkpoint (or starts fresh from the beginning of the raw streams) and runs. */
  async start(): Promise<void> {
    const { name } = this.spec;
    const { group, groups } = this.options;
    const loaded = await this.store.checkpoint<GroupCheckpoint>(name, group, groups);
    // Each owned partition holds the watermark until it has a record or goes idle.
    const origin = { partitions: this.partitionsByInput(), now: Date.now() };
    if (loaded) {
      const snapshot = await this.requireSnapshot(loaded.state.pipeline.snapshotVersion);
      this.pipeline = new StreamPipeline(this.spec, snapshot, loaded.state.pipeline, origin);
      this.positions = loaded.state.positions;
      this.manifest = loaded.manifest;
    } else {
      this.pipeline = new StreamPipeline(this.spec, await this.firstSnapshot(), undefined, origin);
    }
    const jsm = await jetStreamManagerOf(this.nc);
    for (const feed of this.feeds) {
      // The group's cursor is its checkpoint: the durable consumer is recreated at the position
      // after it, so messages a killed instance had received are delivered again at once and in
      // order (not after their ack wait, behind newer ones that would make them late).
      const after = this.positions[`${feed.input}.${feed.partition}`] ?? 0;
      await jsm.consumers.delete(feed.source.stream, feed.durable).catch(() => undefined);
      await jsm.consumers.add(feed.source.stream, {
        durable_name: feed.durable,
        filter_subject: this.subjects.raw(feed.source.declaration.name, feed.partition),
        ack_policy: AckPolicy.All,
        ...(after > 0
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }
          : { deliver_policy: DeliverPolicy.All }),
        ack_wait: nanos(this.options.ackWaitMs),
        max_ack_pending: this.options.maxAckPending,
      });
      const consumer = await jetStreamOf(this.nc).consumers.get(feed.source.stream, feed.durable);
      const messages = await consumer.consume({ max_messages: 512 });
      this.iterators.push(messages);
      this.loops.push(this.run(feed, messages));
    }
    this.timer = setInterval(
      () => void this.checkpoint().catch((err: unknown) => this.fail(err)),
      this.options.checkpointMs,
    );
    this.logger.log({
      msg: 'stream started',
      pipeline: name,
      group,
      groups,
      partitions: this.partitions,
      restored: loaded?.manifest.epoch ?? 0,
      snapshot: this.pipeline.snapshotVersion,
    });
  }

  /** Stops consuming; with `checkpoint`, writes a final checkpoint (a graceful stop). */
  async stop(checkpoint: boolean): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    for (const messages of this.iterators) await messages.close().catch(() => undefined);
    await Promise.all(this.loops);
    await this.checkpointing?.catch(() => undefined);
    if (checkpoint && this.failure === undefined && this.pipeline) await this.checkpoint(true);
  }

  status(): StreamGroupStatus {
    return {
      group: this.options.group,
      groups: this.options.groups,
      partitions: this.partitions,
      watermark: this.pipeline?.watermark ?? null,
      snapshotVersion: this.pipeline?.snapshotVersion ?? 0,
      counts: this.pipeline
        ? { ...this.pipeline.counters }
        : {
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
          },
      buffered: this.pipeline?.buffered ?? 0,
      pendingJoins: this.pipeline?.pendingJoins ?? 0,
      checkpointEpoch: this.manifest?.epoch ?? 0,
      updatedAt: new Date().toISOString(),
    };
  }

  private partitionsByInput(): Record<StreamInput, number[]> {
    const of = (input: StreamInput): number[] =>
      this.feeds.filter((f) => f.input === input).map((f) => f.partition);
    return { event: of('event'), label: of('label') };
  }

  private async run(feed: Feed, messages: ConsumerMessages): Promise<void> {
    try {
      for await (const msg of messages) {
        this.apply(feed, msg);
        await this.publisher.room();
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /** One raw message, applied synchronously: the state never holds half of it. */
  private apply(feed: Feed, msg: JsMsg): void {
    const position = `${feed.input}.${feed.partition}`;
    if (msg.seq <= (this.positions[position] ?? 0)) return;
    let record: Record<string, unknown> | undefined;
    try {
      const body = decodeJson(msg.data);
      if (typeof body === 'object' && body !== null && !Array.isArray(body))
        record = body as Record<string, unknown>;
    } catch {
      record = undefined;
    }
    const id = record
      ? msg.headers?.get(RecordHeader.recordId) || safeId(record, feed.source.idField)
      : undefined;
    if (record && id !== undefined) {
      if (
        this.pipeline.offer(feed.input, id, record, feed.partition, Date.now()) === 'rejected' &&
        this.rejectionsLogged < 20
      ) {
        this.rejectionsLogged += 1;
        this.logger.warn({
          msg: 'record rejected',
          pipeline: this.spec.name,
          reason: this.pipeline.lastRejection,
        });
      }
    } else this.pipeline.counters.rejected += 1;
    this.positions[position] = msg.seq;
    this.lastMsg.set(position, msg);
    this.drain();
  }

  /** Releases what the watermark allows now (also on the checkpoint timer: idle partitions). */
  private drain(): void {
    for (const example of this.pipeline.drain(Date.now())) this.publisher.enqueue(example);
  }

  /** Refresh the snapshot, capture the state, store the examples, write it, then ack the input. */
  private async checkpoint(final = false): Promise<void> {
    if (this.checkpointing) return this.checkpointing;
    this.checkpointing = (async () => {
      await this.refreshSnapshot();
      if (this.stopped && !final) return;
      if (!this.stopped) this.drain();
      const state: GroupCheckpoint = {
        positions: { ...this.positions },
        pipeline: this.pipeline.state(),
      };
      const acks = [...this.lastMsg.values()];
      this.lastMsg.clear();
      const serving = this.pipeline.servingStates();
      const status = this.status();
      await this.publisher.flush();
      const { name } = this.spec;
      const { group, groups } = this.options;
      const epoch = (this.manifest?.epoch ?? 0) + 1;
      this.manifest = await this.store.writeCheckpoint(
        name,
        group,
        groups,
        epoch,
        state,
        this.manifest,
      );
      for (const msg of acks) msg.ack();
      await this.store.putAggregates(name, serving);
      await this.store.putStatus(name, { ...status, checkpointEpoch: epoch });
    })().finally(() => {
      this.checkpointing = undefined;
    });
    return this.checkpointing;
  }

  /** Group 0 publishes a snapshot every `snapshotEveryRecords`; the others follow the latest. */
  private async refreshSnapshot(): Promise<void> {
    const { name, snapshotEveryRecords } = this.spec;
    if (this.options.group === 0) {
      const since = this.pipeline.statisticsRecords - (this.publishedAt ?? 0);
      if (since < snapshotEveryRecords) return;
      const next = (await this.store.latestSnapshotVersion(name)) + 1;
      const snapshot = await this.store.publishSnapshot(
        this.pipeline.buildSnapshot(next, new Date().toISOString()),
      );
      this.publishedAt = snapshot.records;
      this.pipeline.useSnapshot(snapshot);
      this.logger.log({
        msg: 'snapshot published',
        pipeline: name,
        version: snapshot.version,
        records: snapshot.records,
      });
      return;
    }
    const latest = await this.store.latestSnapshotVersion(name);
    if (latest > this.pipeline.snapshotVersion)
      this.pipeline.useSnapshot(await this.requireSnapshot(latest));
  }

  private publishedAt: number | undefined;

  private async firstSnapshot(): Promise<StreamSnapshot> {
    const { name } = this.spec;
    for (;;) {
      const latest = await this.store.latestSnapshotVersion(name);
      if (latest > 0) return this.requireSnapshot(latest);
      if (this.options.group === 0)
        return this.store.publishSnapshot(
          initialStreamSnapshot(this.spec, new Date().toISOString()),
        );
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  private async requireSnapshot(version: number): Promise<StreamSnapshot> {
    const snapshot = await this.store.snapshot(this.spec.name, version);
    if (!snapshot)
      throw new Error(`snapshot ${version} of stream pipeline "${this.spec.name}" is missing`);
    this.publishedAt ??= snapshot.records;
    return snapshot;
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    this.failure = err instanceof Error ? err.message : String(err);
    this.logger.error({ msg: 'stream failed', pipeline: this.spec.name, error: this.failure });
    void this.stop(false);
  }
}

function safeId(record: Record<string, unknown>, idField: string): string | undefined {
  try {
    return recordIdOf(record, idField);
  } catch {
    return undefined;
  }
}
