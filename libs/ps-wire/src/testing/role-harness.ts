import {
  CheckpointManifest,
  JobControlNotice,
  ModelSpec,
  OutputSchema,
  RoleConfig,
  RoleReport,
  roleReportSchema,
  RoleStart,
  Subjects,
  TrainingSettings,
} from '@dln/contracts';
import { manifestObjectName } from '@dln/jobs';
import { connectNats, decodeJson, encodeJson, NatsConnection } from '@dln/messaging';
import { parameterLayoutFor, WorkerResult } from '@dln/training';
import { Objm } from '@nats-io/obj';
import { GateService, serveEpochGate } from '../gate-service';
import { runPsRole } from '../roles/ps-role';
import { RoleRuntime } from '../roles/role-runtime';
import { runWorkerRole, WorkerRoleOptions } from '../roles/worker-role';

export interface RoleHarnessOptions {
  natsUrl: string;
  root: string;
  jobId: string;
  workers: number;
  shards: number;
  model: ModelSpec;
  schema: OutputSchema;
  training: TrainingSettings;
  examples: RoleConfig['examples'];
}

/** What a role incarnation differs in. */
export interface Incarnation {
  generation?: number;
  attempt?: number;
  start?: RoleStart;
  restoreFrom?: string | null;
}

/** One running role incarnation of the harness. */
export interface RoleHandle {
  readonly token: RoleConfig['token'];
  /** Settles when the role returns: undefined, or the error it ended with. */
  readonly ended: Promise<unknown>;
  /** Worker: the loop's result once it ended normally. */
  result?: WorkerResult;
  /** As a SIGKILL would: the connection drops at once, nothing more leaves. */
  kill(): void;
  /** Asks the role to stop (the node's SIGTERM). */
  stop(): void;
}

/**
 * A job's roles in this process, each with its own NATS connection (as in its own process), an
 * epoch gate standing in for the AM, every report collected, and what the AM does on failover
 * (notices, manifests) at the test's hand. Tests put fault points around a worker's pushes.
 */
export class RoleHarness {
  readonly reports: RoleReport[] = [];
  readonly subjects: Subjects;
  private gate: GateService | undefined;
  private readonly handles: RoleHandle[] = [];
  private readonly connections: NatsConnection[] = [];

  private constructor(
    readonly options: RoleHarnessOptions,
    private readonly observer: NatsConnection,
  ) {
    this.subjects = new Subjects(options.root);
  }

  static async start(options: RoleHarnessOptions): Promise<RoleHarness> {
    const observer = await connectNats({ servers: options.natsUrl, name: `${options.jobId}-am` });
    const harness = new RoleHarness(options, observer);
    observer.subscribe(harness.subjects.jobReports(options.jobId), {
      callback: (_error, msg) => {
        const parsed = roleReportSchema.safeParse(decodeJson(msg.data));
        if (parsed.success) harness.reports.push(parsed.data);
      },
    });
    harness.openGate();
    await observer.flush();
    return harness;
  }

  /** The AM goes away: no gate, no report is answered (reports are still observed). */
  async closeGate(): Promise<void> {
    const gate = this.gate;
    this.gate = undefined;
    await gate?.close();
  }

  /** A fresh epoch gate (the AM's gate of a new generation, or a restarted AM's). */
  openGate(): void {
    const previous = this.gate;
    if (previous) void previous.close();
    const { workers, training } = this.options;
    this.gate = serveEpochGate(this.observer, this.subjects, this.options.jobId, {
      workers,
      epochs: training.epochs,
    });
  }

  config(kind: 'worker' | 'ps', index: number, incarnation: Incarnation = {}): RoleConfig {
    const o = this.options;
    return {
      token: {
        jobId: o.jobId,
        generation: incarnation.generation ?? 0,
        role: `${kind}-${index}`,
        attempt: incarnation.attempt ?? 0,
      },
      kind,
      index,
      subjectRoot: o.root,
      jobName: o.jobId,
      workers: o.workers,
      shards: o.shards,
      model: o.model,
      training: o.training,
      outputSchema: o.schema,
      parameters: parameterLayoutFor(o.model, o.schema, o.shards),
      examples: o.examples,
      restoreFrom: incarnation.restoreFrom ?? null,
      start: incarnation.start ?? RoleStart.Fresh,
      resume: null,
      outputModel: 'harness-test',
    };
  }

  async startPs(index: number, incarnation: Incarnation = {}): Promise<RoleHandle> {
    const config = this.config('ps', index, incarnation);
    return this.launch(config, (runtime) => runPsRole(config, runtime));
  }

  async startWorker(
    index: number,
    incarnation: Incarnation = {},
    options: WorkerRoleOptions = {},
  ): Promise<RoleHandle> {
    const config = this.config('worker', index, incarnation);
    let result: WorkerResult | undefined;
    const handle = await this.launch(config, (runtime) =>
      runWorkerRole(config, runtime, {
        exportModel: false,
        reportFlushMs: 5000,
        ...options,
        onResult: (loopResult) => {
          result = loopResult;
          options.onResult?.(loopResult);
        },
      }),
    );
    void handle.ended.then(() => {
      if (result) handle.result = result;
    });
    return handle;
  }

  /** What the AM does once failover decided: tell the job's roles. */
  async notify(notice: JobControlNotice): Promise<void> {
    this.observer.publish(this.subjects.jobControl(notice.jobId), encodeJson(notice));
    await this.observer.flush();
  }

  /** What the AM does once every shard stored `step`: the manifest, written last. */
  async writeManifest(generation: number, step: number): Promise<string> {
    const { jobId, model, schema, shards } = this.options;
    const parts = this.reports.flatMap((r) =>
      r.type === 'checkpoint' && r.step === step && r.token.generation === generation ? [r] : [],
    );
    const byShard = new Map(parts.map((part) => [part.shard, part]));
    if (byShard.size !== shards) throw new Error(`checkpoint ${step} is not complete`);
    const manifest: CheckpointManifest = {
      jobId,
      generation,
      step,
      createdAt: new Date().toISOString(),
      shards: [...byShard.values()].map(({ shard, object, updateCount }) => ({
        shard,
        object,
        updateCount,
      })),
      variables: parameterLayoutFor(model, schema, shards).variables,
      optimizer: this.options.training.optimizer.kind,
      workerPositions: [],
    };
    const name = manifestObjectName(jobId, generation, step);
    const store = await new Objm(this.observer).create(this.subjects.bucket('checkpoints'));
    await store.putBlob({ name }, encodeJson(manifest));
    return name;
  }

  async close(): Promise<void> {
    for (const handle of this.handles) handle.stop();
    await Promise.all(this.handles.map((handle) => handle.ended));
    await this.gate?.close();
    for (const nc of this.connections) if (!nc.isClosed()) await nc.close();
    await this.observer.flush();
    await this.observer.drain();
  }

  private async launch(
    config: RoleConfig,
    run: (runtime: RoleRuntime) => Promise<void>,
  ): Promise<RoleHandle> {
    const { token } = config;
    const nc = await connectNats({
      servers: this.options.natsUrl,
      name: `${token.role}-g${token.generation}-a${token.attempt}`,
    });
    this.connections.push(nc);
    const stopper = new AbortController();
    const runtime: RoleRuntime = {
      nc,
      signal: stopper.signal,
      ready: () => undefined,
      log: () => undefined,
    };
    const ended = run(runtime).then(
      () => undefined,
      (error: unknown) => error ?? new Error('role failed'),
    );
    const handle: RoleHandle = {
      token,
      ended,
      kill: () => {
        stopper.abort('killed');
        void nc.close();
      },
      stop: () => stopper.abort('stopped'),
    };
    this.handles.push(handle);
    return handle;
  }
}
