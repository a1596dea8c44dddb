import {
  ConflictError,
  NotFoundError,
  parseInput,
  ScorerSpec,
  scorerSpecSchema,
  ScorerStatus,
  ScoringLimits,
  Subjects,
} from '@dln/contracts';
import { decodeJson, encodeJson, jetStreamManagerOf, NatsConnection } from '@dln/messaging';
import { NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { ModelRegistry } from '@dln/serving';
import { Kvm, type KV } from '@nats-io/kv';
import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import type { PredictionConfig } from '../prediction.config';
import { PREDICTION_CONFIG } from '../prediction.tokens';
import { scorerConsumers, ScorerRunner, ScorerRunnerOptions } from './scorer-runner';

/**
 * Prediction topics: scorer specs live in the KV bucket `Subjects.bucket('scorers')`, so a
 * scorer declared on any instance runs on every instance (they share its durable consumers and
 * split the records). This instance watches the bucket and starts or stops its runners.
 */
@Injectable()
export class ScorersService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ScorersService.name);
  private readonly runners = new Map<string, ScorerRunner>();
  private kv: KV | undefined;
  private watcher: Awaited<ReturnType<KV['watch']>> | undefined;
  private watching: Promise<void> | undefined;
  private ready: Promise<KV> | undefined;

  constructor(
    private readonly registry: ModelRegistry,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(PREDICTION_CONFIG) private readonly config: PredictionConfig,
  ) {}

  private get runnerOptions(): ScorerRunnerOptions {
    const c = this.config;
    return {
      batch: c.SCORER_BATCH,
      batchesInFlight: c.SCORER_BATCHES_IN_FLIGHT,
      lingerMs: c.SCORER_LINGER_MS,
      ackWaitMs: c.SCORER_ACK_WAIT_MS,
      maxAckPending: c.SCORER_MAX_ACK_PENDING,
      retryMs: c.SCORER_RETRY_MS,
      predictions: {
        maxAgeSeconds: c.PREDICTIONS_MAX_AGE_S,
        maxBytes: c.PREDICTIONS_MAX_BYTES,
        replicas: c.PREDICTIONS_REPLICAS,
        duplicateWindowSeconds: c.PREDICTIONS_DUPLICATE_WINDOW_S,
      },
    };
  }

  onApplicationBootstrap(): void {
    this.ready = this.open();
    this.watching = this.ready.then((kv) => this.watch(kv));
    this.watching.catch((error: unknown) =>
      this.logger.error(`scorer specs cannot be watched: ${String(error)}`),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.watcher?.stop();
    await this.watching?.catch(() => undefined);
    await Promise.all([...this.runners.values()].map((runner) => runner.stop()));
    this.runners.clear();
  }

  private async open(): Promise<KV> {
    const kvm = new Kvm(this.nats);
    const name = this.subjects.bucket('scorers');
    try {
      this.kv = await kvm.create(name, { history: 1, replicas: this.config.PREDICTIONS_REPLICAS });
    } catch {
      this.kv = await kvm.open(name);
    }
    return this.kv;
  }

  private async watch(kv: KV): Promise<void> {
    this.watcher = await kv.watch({ key: '>' });
    for await (const entry of this.watcher) {
      if (entry.operation === 'PUT') {
        try {
          this.apply(parseInput(scorerSpecSchema, decodeJson(entry.value), 'scorer spec'));
        } catch (error) {
          this.logger.warn(`ignored the stored scorer ${entry.key}: ${String(error)}`);
        }
      } else await this.runners.get(entry.key)?.stop();
      if (entry.operation !== 'PUT') this.runners.delete(entry.key);
    }
  }

  private apply(spec: ScorerSpec): void {
    const current = this.runners.get(spec.name);
    if (current && isDeepStrictEqual(current.spec, spec)) return;
    void current?.stop();
    const runner = new ScorerRunner(
      this.nats,
      this.subjects,
      this.registry,
      spec,
      this.runnerOptions,
    );
    this.runners.set(spec.name, runner);
    runner.start();
  }

  /** Declares a scorer (idempotent for the same spec; 409 for another spec under its name). */
  async declare(body: unknown): Promise<{ created: boolean; scorer: ScorerSpec }> {
    const spec = parseInput(scorerSpecSchema, body, 'scorer');
    const kv = await this.store();
    const existing = await this.stored(kv, spec.name);
    if (existing) {
      if (isDeepStrictEqual(existing, spec)) return { created: false, scorer: spec };
      throw new ConflictError(
        `scorer "${spec.name}" exists with another spec; delete it first or choose another name`,
      );
    }
    const names = await kv.keys();
    let count = 0;
    for await (const _ of names) count += 1;
    if (count >= ScoringLimits.maxScorers)
      throw new ConflictError(`at most ${ScoringLimits.maxScorers} scorers; delete one first`);
    await kv.create(spec.name, encodeJson(spec)).catch(() => {
      throw new ConflictError(`scorer "${spec.name}" was declared concurrently`);
    });
    this.apply(spec);
    return { created: true, scorer: spec };
  }

  /** Removes a scorer everywhere and deletes its durable consumers (their positions go too). */
  async remove(name: string): Promise<void> {
    const kv = await this.store();
    const spec = await this.stored(kv, name);
    if (!spec) throw new NotFoundError('scorer', name);
    await kv.delete(name);
    await this.runners.get(name)?.stop();
    this.runners.delete(name);
    const jsm = await jetStreamManagerOf(this.nats);
    for (const { durable } of scorerConsumers(this.subjects, spec)) {
      await jsm.consumers.delete(this.subjects.rawStream(spec.source), durable).catch(() => false);
    }
  }

  /** Every scorer this instance runs, with its counters. */
  list(): ScorerStatus[] {
    return [...this.runners.values()]
      .map((runner) => runner.view())
      .sort((a, b) => a.spec.name.localeCompare(b.spec.name));
  }

  get(name: string): ScorerStatus {
    const runner = this.runners.get(name);
    if (!runner) throw new NotFoundError('scorer', name);
    return runner.view();
  }

  private async store(): Promise<KV> {
    if (!this.ready) throw new Error('the scorers service has not started');
    return this.ready;
  }

  private async stored(kv: KV, name: string): Promise<ScorerSpec | undefined> {
    const entry = await kv.get(name);
    if (!entry || entry.operation !== 'PUT') return undefined;
    return parseInput(scorerSpecSchema, decodeJson(entry.value), 'scorer spec');
  }
}
