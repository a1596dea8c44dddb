import { DlnError, Subjects } from '@dln/contracts';
import {
  decodeShardState,
  encodeShardState,
  initialShardParameters,
  PsShard,
  ShardState,
} from '@dln/training';
import { shardCheckpointName, RoleObjects } from '../object-blobs';
import { servePsShard } from '../ps-responder';
import { natsReportSink } from '../role-links';
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
  const report = natsReportSink(nc, subjects, jobId);
  const objects = new RoleObjects(nc, subjects);
  await startBackend(runtime);
  const restore = config.restoreFrom
    ? await loadShard(objects, config.restoreFrom, config.index, config.training.optimizer)
    : undefined;
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
  });
  report({ type: 'started', token: config.token });
  runtime.ready();
  log('info', 'ps shard serving', {
    shard: config.index,
    size: shard.size,
    mode: config.training.updateMode,
    restored: restore !== undefined,
  });
  try {
    await Promise.race([aborted(runtime.signal), failed]);
  } finally {
    await responder.close();
    shard.close(
      new DlnError('UNAVAILABLE', `ps shard ${config.index} stopped`, { retryable: true }),
    );
    await writes;
  }
  report({ type: 'finished', token: config.token });
}

async function loadShard(
  objects: RoleObjects,
  manifestName: string,
  shard: number,
  optimizer: Parameters<typeof decodeShardState>[1],
): Promise<ShardState> {
  const manifest = await objects.getManifest(manifestName);
  const entry = manifest.shards.find((part) => part.shard === shard);
  if (!entry)
    throw new DlnError('NOT_FOUND', `checkpoint ${manifestName} has no part for shard ${shard}`);
  return decodeShardState(await objects.getBlob('checkpoints', entry.object), optimizer);
}
