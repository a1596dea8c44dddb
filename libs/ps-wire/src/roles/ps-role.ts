import { CheckpointManifest, DlnError, RoleConfig, Subjects } from '@dln/contracts';
import {
  decodeShardState,
  encodeShardState,
  initialShardParameters,
  PsShard,
  ShardState,
} from '@dln/training';
import type { NatsConnection } from '@nats-io/transport-node';
import { supersessionOf, watchJobControl } from '../job-control';
import { shardCheckpointName, RoleObjects } from '../object-blobs';
import { NatsShardClient } from '../ps-client';
import { servePsShard } from '../ps-responder';
import { ReportOutbox } from '../report-outbox';
import { aborted, parseRoleConfig, RoleRuntime, startBackend } from './role-runtime';

/**
 * The parameter-server role: one shard of the job's variables, initialized from the job seed
 * (or restored from the checkpoint named by `restoreFrom`), served on its pull/push subjects
 * until the role is stopped. Checkpoints every `checkpointEvery` steps go to the Object Store,
 * each followed by a `checkpoint` report (the AM writes the manifest).
 */
export async function runPsRole(raw: unknown, runtime: RoleRuntime): Promise<void> {
  const config = parseRoleConfig(raw, 'ps');
  const { nc, log } = runtime;
  const subjects = new Subjects(config.subjectRoot);
  const { jobId, generation } = config.token;
  const outbox = new ReportOutbox(nc, subjects, jobId);
  const report = outbox.send;
  const objects = new RoleObjects(nc, subjects);
  await startBackend(runtime);
  const checkpoint = config.restoreFrom
    ? await loadShard(objects, config.restoreFrom, config.index, config.training.optimizer)
    : undefined;
  const restore = checkpoint?.state;
  const params = restore
    ? undefined
    : initialShardParameters(
        config.model,
        config.outputSchema,
        config.training.seed,
        config.parameters,
        config.index,
      );

  let writes: Promise<void> = Promise.resolve();
  let failRole: (error: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (failRole = reject));
  const writeCheckpoint = (state: ShardState): void => {
    const object = shardCheckpointName(jobId, generation, state.step, config.index);
    const bytes = encodeShardState(state);
    writes = writes
      .then(() => objects.putCheckpoint(object, bytes))
      .then(() => {
        report({
          type: 'checkpoint',
          token: config.token,
          shard: config.index,
          step: state.step,
          updateCount: state.updateCount,
          object,
        });
        log('info', 'checkpoint stored', { object, step: state.step });
      })
      .catch((error: unknown) =>
        failRole(
          new DlnError('UNAVAILABLE', `checkpoint ${object} could not be stored`, {
            retryable: true,
            cause: error,
          }),
        ),
      );
  };

  const shard = new PsShard({
    token: config.token,
    shard: config.index,
    workers: config.workers,
    mode: config.training.updateMode,
    optimizer: config.training.optimizer,
    ...(restore ? { restore } : { params: params as Float32Array }),
    checkpointEvery: config.training.checkpointEvery,
    onCheckpoint: writeCheckpoint,
  });
  const restored =
    checkpoint && config.restoreFrom !== null
      ? {
          from: config.restoreFrom,
          step: checkpoint.state.step,
          updateCount: checkpoint.state.updateCount,
          lostUpdates:
            config.start === 'replacement'
              ? await lostUpdatesOf(nc, subjects, config, checkpoint.manifest)
              : null,
        }
      : undefined;

  // Superseded (its own replacement, a newer generation): stop without a word, the AM knows.
  const superseded = new AbortController();
  const stopSuperseded = (reason: string): void => {
    if (superseded.signal.aborted) return;
    log('warn', 'ps shard superseded, stopping', { reason });
    superseded.abort(reason);
  };
  const notices = watchJobControl(nc, subjects, jobId, (notice) => {
    const reason = supersessionOf(config.token, notice);
    if (reason !== null) stopSuperseded(reason);
    else if (notice.type === 'role-replaced' && shard.supersede(notice.by))
      log('info', 'worker replaced', { superseded: notice.superseded, by: notice.by });
  });
  if (config.start !== 'fresh') await evictPredecessor(nc, subjects, config);
  const responder = servePsShard({
    nc,
    subjects,
    jobId,
    shardIndex: config.index,
    shard,
    onError: (error, subject) =>
      log('warn', 'ps request failed', {
        subject,
        error: error instanceof Error ? error.message : String(error),
      }),
    onSuperseded: (error) => stopSuperseded(error.message),
  });
  report({ type: 'started', token: config.token, ...(restored ? { restored } : {}) });
  runtime.ready();
  log('info', 'ps shard serving', {
    shard: config.index,
    size: shard.size,
    mode: config.training.updateMode,
    start: config.start,
    ...(restored ? { restored } : {}),
  });
  try {
    await Promise.race([aborted(runtime.signal), aborted(superseded.signal), failed]);
  } finally {
    notices.unsubscribe();
    await responder.close();
    shard.close(
      new DlnError('UNAVAILABLE', `ps shard ${config.index} stopped`, { retryable: true }),
    );
    await writes;
  }
  if (!superseded.signal.aborted) report({ type: 'finished', token: config.token });
  await settleReports(outbox, runtime);
}

/** Gives the last reports a moment to reach the AM (it may be away); then they are dropped. */
export async function settleReports(outbox: ReportOutbox, runtime: RoleRuntime): Promise<void> {
  if (!(await outbox.flush(REPORT_FLUSH_MS)))
    runtime.log('warn', 'reports not acknowledged by the AM', { pending: outbox.pending });
  outbox.close();
}

const REPORT_FLUSH_MS = 15_000;

/**
 * A predecessor that is still alive (its node cut off, not dead) would keep answering on the
 * shard's subjects: a request with this attempt's token tells it that it is superseded, and it
 * stops without answering. Nobody answering is the usual case.
 */
export async function evictPredecessor(
  nc: NatsConnection,
  subjects: Subjects,
  config: RoleConfig,
): Promise<void> {
  const client = new NatsShardClient({
    nc,
    subjects,
    token: config.token,
    shardSizes: config.parameters.shardSizes,
    timeoutMs: 500,
    unavailableMs: 0,
  });
  await client.positions(config.index).catch(() => undefined);
}

/**
 * Async replacement: the updates this shard applied since its checkpoint and lost with its
 * predecessor. Every worker pushes each step to every shard, so the updates a surviving shard
 * took since the same checkpoint are those the lost one took too; null when none answers.
 */
async function lostUpdatesOf(
  nc: NatsConnection,
  subjects: Subjects,
  config: RoleConfig,
  manifest: CheckpointManifest,
): Promise<number | null> {
  if (config.training.updateMode !== 'async' || config.shards < 2) return null;
  const client = new NatsShardClient({
    nc,
    subjects,
    token: config.token,
    shardSizes: config.parameters.shardSizes,
    timeoutMs: 2000,
    unavailableMs: 5000,
  });
  const others = Array.from({ length: config.shards }, (_, i) => i).filter(
    (i) => i !== config.index,
  );
  const answers = await Promise.allSettled(others.map((other) => client.positions(other)));
  const since = answers.flatMap((answer, i) => {
    const then = manifest.shards.find((part) => part.shard === others[i]);
    return answer.status === 'fulfilled' && then
      ? [Math.max(0, answer.value.updateCount - then.updateCount)]
      : [];
  });
  return since.length === 0 ? null : Math.max(...since);
}

async function loadShard(
  objects: RoleObjects,
  manifestName: string,
  shard: number,
  optimizer: Parameters<typeof decodeShardState>[1],
): Promise<{ manifest: CheckpointManifest; state: ShardState }> {
  const manifest = await objects.getManifest(manifestName);
  const entry = manifest.shards.find((part) => part.shard === shard);
  if (!entry)
    throw new DlnError('NOT_FOUND', `checkpoint ${manifestName} has no part for shard ${shard}`);
  const state = decodeShardState(await objects.getBlob('checkpoints', entry.object), optimizer);
  return { manifest, state };
}
