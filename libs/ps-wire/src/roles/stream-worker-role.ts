import {
  ControlPattern,
  DlnError,
  RoleConfig,
  StreamSnapshot,
  streamSnapshotSchema,
  Subjects,
} from '@dln/contracts';
import { requestJson } from '@dln/messaging';
import { buildModel, exportModelArtifact, writeWeights } from '@dln/ml';
import { ReportSink, StreamExport, StreamWorkerLoop, StreamWorkerResult } from '@dln/training';
import type { NatsConnection } from '@nats-io/transport-node';
import { RoleObjects } from '../object-blobs';
import { NatsShardClient } from '../ps-client';
import { natsReportSink } from '../role-links';
import { NatsStreamSource } from '../stream-consumer';
import { parseRoleConfig, RoleRuntime, startBackend } from './role-runtime';
import { runWorkerRole, WorkerRoleOptions } from './worker-role';

export interface StreamWorkerRoleOptions {
  /** Called with the loop's counts once it stopped. */
  onResult?: (result: StreamWorkerResult) => void;
  progressEveryMs?: number;
}

/** A worker role of either mode: the stream loop when the config carries `stream`. */
export function runAnyWorkerRole(
  raw: unknown,
  runtime: RoleRuntime,
  options: WorkerRoleOptions = {},
): Promise<void> {
  const stream =
    typeof raw === 'object' && raw !== null && (raw as { stream?: unknown }).stream !== undefined;
  return stream ? runStreamWorkerRole(raw, runtime) : runWorkerRole(raw, runtime, options);
}

/**
 * A stream job's worker role: trains from the job's shared consumer until the role is stopped
 * (the job was cancelled), starting at the step the shards acknowledged for this worker (its
 * predecessor's end). Worker 0 exports a model version every `exportEvery`, pinned to the stream
 * snapshot version its newest example carried, and reports `exported` with the progressive
 * metrics. A stop is not a failure: the role ends quietly.
 */
export async function runStreamWorkerRole(
  raw: unknown,
  runtime: RoleRuntime,
  options: StreamWorkerRoleOptions = {},
): Promise<void> {
  const config = parseRoleConfig(raw, 'worker');
  const stream = config.stream;
  if (!stream) throw new DlnError('INVALID_REQUEST', 'a stream worker needs RoleConfig.stream');
  const { nc, log } = runtime;
  const subjects = new Subjects(config.subjectRoot);
  const report = natsReportSink(nc, subjects, config.token.jobId);
  await startBackend(runtime);
  const client = new NatsShardClient({
    nc,
    subjects,
    token: config.token,
    shardSizes: config.parameters.shardSizes,
    // Stopped, it leaves at once: a push to a shard that is gone would otherwise be asked again
    // for the client's whole unavailable window (10 min) and the role outlive its node.
    signal: runtime.signal,
  });
  let startStep: number;
  try {
    const positions = await Promise.all(
      config.parameters.shardSizes.map((_, shard) => client.positions(shard)),
    );
    startStep = Math.max(0, ...positions.map((p) => positionsOf(p)[config.index] ?? 0));
  } catch (error) {
    if (!runtime.signal.aborted) throw error;
    log('info', 'stream worker stopped before it started');
    return;
  }
  const source = new NatsStreamSource({
    nc,
    subjects,
    pipeline: stream.pipeline,
    consumer: stream.consumer,
    schema: config.outputSchema,
    fetchWaitMs: stream.settings.fetchWaitMs,
    onRejected: (seq, reason) => log('warn', 'example rejected', { seq, reason }),
  });
  report({ type: 'started', token: config.token });
  runtime.ready();
  log('info', 'stream worker started', { consumer: stream.consumer, startStep });
  const exporter =
    config.index === 0 ? streamExporter(nc, subjects, config, report, log) : undefined;
  const loop = new StreamWorkerLoop({
    token: config.token,
    index: config.index,
    model: config.model,
    schema: config.outputSchema,
    training: config.training,
    layout: config.parameters,
    settings: stream.settings,
    source,
    client,
    report,
    signal: runtime.signal,
    startStep,
    ...(exporter ? { exporter } : {}),
    ...(options.progressEveryMs !== undefined ? { progressEveryMs: options.progressEveryMs } : {}),
  });
  try {
    const result = await loop.run();
    options.onResult?.(result);
    log('info', 'stream worker stopped', { ...result });
  } catch (error) {
    if (!runtime.signal.aborted) throw error;
    log('info', 'stream worker stopped', {
      error: error instanceof Error ? error.message : String(error),
    });
  }
}

/** Worker 0's export: the artifact pinned to a stream snapshot, stored, then reported. */
function streamExporter(
  nc: NatsConnection,
  subjects: Subjects,
  config: RoleConfig,
  report: ReportSink,
  log: RoleRuntime['log'],
): (exported: StreamExport) => Promise<void> {
  const snapshots = new Map<number, StreamSnapshot>();
  const objects = new RoleObjects(nc, subjects);
  const pipeline = config.stream?.pipeline ?? config.examples.pipeline;
  return async (exported) => {
    const version = exported.pipelineVersion ?? config.examples.version;
    let snapshot = snapshots.get(version);
    if (!snapshot) {
      try {
        snapshot = await requestJson(
          nc,
          subjects.control(ControlPattern.streamSnapshot),
          { pipeline, version },
          {
            reply: streamSnapshotSchema,
            what: `stream snapshot ${pipeline} v${version}`,
            timeoutMs: 15_000,
          },
        );
      } catch (error) {
        // The feature service is restarting (or busy): skip this export, the next one asks
        // again. Failing the role would stall training until it is replaced.
        if (!(error instanceof DlnError) || !error.retryable) throw error;
        log('warn', 'export skipped', { step: exported.step, reason: error.message });
        return;
      }
      snapshots.set(version, snapshot);
    }
    // Nothing scored yet (only redelivered examples so far): no metric to judge a version by.
    const metrics = exported.metrics;
    if (!metrics) return;
    const token = config.token;
    const base = { type: 'exported', token, trainExamples: exported.examples } as const;
    const stream = { step: exported.step, pipelineVersion: version };
    if (!exported.finite) {
      // JSON cannot carry NaN: the AM refuses a non-finite export (the NaN guard).
      report({ ...base, objects: ['-'], metrics: { loss: 0, examples: 0 }, finite: false, stream });
      return;
    }
    const model = buildModel(config.model, config.outputSchema, config.training.seed);
    try {
      writeWeights(model, exported.params);
      const artifact = await exportModelArtifact(model, {
        pipeline: snapshot,
        outputSchema: config.outputSchema,
        validationLoss: metrics.loss,
        metadata: {
          jobId: token.jobId,
          jobName: config.jobName,
          generation: token.generation,
          pipeline,
          pipelineVersion: version,
          trainExamples: exported.examples,
          step: exported.step,
          validation: metrics,
          progressive: true,
        },
      });
      const prefix = `${config.outputModel}/${token.jobId}-g${token.generation}-s${exported.step}`;
      const stored = await objects.putArtifact(prefix, artifact);
      report({ ...base, objects: stored, metrics, finite: true, stream });
    } finally {
      model.dispose();
    }
  };
}

/** The per-worker positions of a positions answer (a list, or an object holding it). */
function positionsOf(
  answer: readonly number[] | { positions: readonly number[] },
): readonly number[] {
  return Array.isArray(answer) ? answer : (answer as { positions: readonly number[] }).positions;
}
