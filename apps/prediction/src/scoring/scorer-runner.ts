import {
  DlnError,
  predictionMsgId,
  RecordHeader,
  ScorerSpec,
  ScorerStatus,
  Subjects,
} from '@dln/contracts';
import {
  encodeJson,
  jetStreamManagerOf,
  JetStreamAcks,
  jetStreamOf,
  NatsConnection,
  OutgoingMessage,
  PublishWindow,
} from '@dln/messaging';
import { ModelRegistry, RawDelivery, RecordScorer } from '@dln/serving';
import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { Logger } from '@nestjs/common';
import { ensurePredictionsStream, PredictionsStreamLimits } from './predictions-stream';

/** A score's PubAck not back within this is a failed publish (its batch is handed back). */
const PUBLISH_ACK_TIMEOUT_MS = 10_000;

export interface ScorerRunnerOptions {
  batch: number;
  batchesInFlight: number;
  /** Wait for more records before scoring a batch that is not full (0: the next turn). */
  lingerMs: number;
  ackWaitMs: number;
  maxAckPending: number;
  retryMs: number;
  predictions: PredictionsStreamLimits;
}

/** The durable consumers of a scorer: one over every partition, or one per listed partition. */
export function scorerConsumers(
  subjects: Subjects,
  spec: ScorerSpec,
): { durable: string; filter: string }[] {
  if (!spec.partitions)
    return [{ durable: `score_${spec.name}`, filter: subjects.rawAll(spec.source) }];
  return spec.partitions.map((p) => ({
    durable: `score_${spec.name}_p${p}`,
    filter: subjects.raw(spec.source, p),
  }));
}

/**
 * Runs one scorer on this instance. EXACTLY ONE SCORE PER RECORD: records come from durable
 * pull consumers shared by every instance (explicit acks); a batch is scored by one model call,
 * each score published with msg id `<source>:<record id>`, and the raw messages are acknowledged
 * only once every PubAck is in. A crash before the acks gets the records redelivered (after the
 * ack wait) and re-scored; JetStream drops the copies within the duplicate window. Nothing is
 * pulled before the model has a version to serve, so early records wait in the raw stream.
 */
export class ScorerRunner {
  private readonly logger: Logger;
  private readonly scorer: RecordScorer;
  private readonly abort = new AbortController();
  private readonly iterators: ConsumerMessages[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private buffer: JsMsg[] = [];
  private flushScheduled = false;
  private main: Promise<void> | undefined;
  /** Scores go out through one ack inbox and one bounded window for every batch of this runner. */
  private readonly acks: JetStreamAcks;
  private readonly window: PublishWindow;
  private readonly status: Omit<ScorerStatus, 'spec'> = {
    state: 'starting',
    scored: 0,
    duplicates: 0,
    unscorable: 0,
    lagRecords: 0,
    lagMs: null,
    version: null,
  };

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly registry: ModelRegistry,
    readonly spec: ScorerSpec,
    private readonly options: ScorerRunnerOptions,
  ) {
    this.logger = new Logger(`Scorer ${spec.name}`);
    this.scorer = new RecordScorer(registry, spec.source, spec.model);
    this.acks = new JetStreamAcks(nc, PUBLISH_ACK_TIMEOUT_MS);
    this.window = new PublishWindow(this.acks, options.batch * options.batchesInFlight);
  }

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  view(): ScorerStatus {
    return { spec: this.spec, ...this.status };
  }

  start(): void {
    this.main ??= this.run().catch((error: unknown) => this.fail(error));
  }

  /** Stops pulling, finishes the batches in flight, and hands buffered records back at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.abort.abort();
    for (const messages of this.iterators) await messages.close().catch(() => undefined);
    await this.main;
    await Promise.all(this.inFlight);
    for (const msg of this.buffer) msg.nak();
    this.buffer = [];
    this.acks.close();
  }

  private async run(): Promise<void> {
    const consumers = await this.retrying('create its consumers', () => this.ensureConsumers());
    if (!consumers) return;
    this.status.state = 'waiting';
    await this.registry.whenServing(this.spec.model, this.abort.signal);
    if (this.stopped) return;
    this.status.state = 'running';
    const js = jetStreamOf(this.nc);
    for (const durable of consumers) {
      const consumer = await js.consumers.get(this.subjects.rawStream(this.spec.source), durable);
      if (this.stopped) return;
      this.iterators.push(
        await consumer.consume({
          max_messages: this.options.batch * 2,
          callback: (msg) => this.receive(msg),
        }),
      );
    }
    this.logger.log({ msg: 'scorer running', ...this.spec });
  }

  /** Retries `what` every retryMs until it works or the runner stops (raw stream not there yet). */
  private async retrying<T>(what: string, work: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 1; !this.stopped; attempt += 1) {
      try {
        const result = await work();
        delete this.status.failure;
        return result;
      } catch (error) {
        this.status.failure = `could not ${what}: ${String(error)}`;
        if (attempt === 1 || attempt % 60 === 0) this.logger.warn(this.status.failure);
        await new Promise((resolve) => setTimeout(resolve, this.options.retryMs));
      }
    }
    return undefined;
  }

  private async ensureConsumers(): Promise<string[]> {
    await ensurePredictionsStream(
      this.nc,
      this.subjects,
      this.spec.model,
      this.options.predictions,
    );
    const jsm = await jetStreamManagerOf(this.nc);
    const stream = this.subjects.rawStream(this.spec.source);
    const durables: string[] = [];
    for (const { durable, filter } of scorerConsumers(this.subjects, this.spec)) {
      const config: Partial<ConsumerConfig> = {
        durable_name: durable,
        filter_subject: filter,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(this.options.ackWaitMs),
        max_ack_pending: this.options.maxAckPending,
        max_deliver: -1,
      };
      try {
        await jsm.consumers.add(stream, config);
      } catch (error) {
        // Another instance created it first (or with other limits): share it as it is.
        await jsm.consumers.info(stream, durable).catch(() => {
          throw error;
        });
      }
      durables.push(durable);
    }
    return durables;
  }

  private receive(msg: JsMsg): void {
    if (this.stopped) {
      msg.nak();
      return;
    }
    this.status.lagRecords = msg.info.pending;
    this.buffer.push(msg);
    if (this.buffer.length >= this.options.batch) this.flush();
    else this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const run = (): void => {
      this.flushScheduled = false;
      this.flush();
    };
    // A full batch goes at once; otherwise records arriving within `lingerMs` share one model
    // call and one publish round (one record per call costs ~10x the CPU per record).
    if (this.buffer.length >= this.options.batch || this.options.lingerMs === 0) setImmediate(run);
    else setTimeout(run, this.options.lingerMs);
  }

  private flush(): void {
    while (this.buffer.length > 0 && this.inFlight.size < this.options.batchesInFlight) {
      const taken = this.buffer.splice(0, this.options.batch);
      const done: Promise<void> = this.process(taken).finally(() => {
        this.inFlight.delete(done);
        if (this.buffer.length > 0) this.scheduleFlush();
      });
      this.inFlight.add(done);
    }
  }

  private async process(msgs: JsMsg[]): Promise<void> {
    const deliveries: RawDelivery[] = msgs.map((msg) => ({
      // A record stored without its id header is still named stably by its stream sequence.
      recordId: msg.headers?.get(RecordHeader.recordId) || `seq-${msg.seq}`,
      body: msg.data,
      storedAt: Math.floor(Number(msg.info.timestampNanos) / 1e6),
    }));
    let scored;
    try {
      scored = await this.scorer.score(deliveries);
    } catch (error) {
      // No version to score with (every version unloaded): hand the records back for later.
      for (const msg of msgs) msg.nak(this.options.retryMs);
      if (!(error instanceof DlnError)) this.fail(error);
      return;
    }
    const subject = this.subjects.predictions(this.spec.model);
    const messages = scored.messages;
    let next = 0;
    const batch = this.window.batch();
    try {
      await batch
        .publishFrom((): OutgoingMessage | undefined => {
          const message = messages[next++];
          return message === undefined
            ? undefined
            : {
                subject,
                data: encodeJson(message),
                msgID: predictionMsgId(this.spec.source, message.id),
              };
        })
        .catch(async (error: unknown) => {
          await batch.flush().catch(() => undefined);
          throw error;
        });
      const outcome = await batch.flush();
      this.status.scored += outcome.stored + outcome.duplicates;
      this.status.duplicates += outcome.duplicates;
    } catch (error) {
      for (const msg of msgs) msg.nak(this.options.retryMs);
      this.logger.warn(
        `publishing ${msgs.length} scores failed, records handed back: ${String(error)}`,
      );
      return;
    }
    for (const msg of msgs) msg.ack();
    this.status.unscorable += scored.unscorable;
    this.status.version = scored.version;
    const newest = deliveries.reduce((max, d) => Math.max(max, d.storedAt), 0);
    this.status.lagMs = Date.now() - newest;
  }

  private fail(error: unknown): void {
    this.status.state = 'failed';
    this.status.failure = String(error);
    this.logger.error(`scorer failed: ${String(error)}`);
  }
}
