import { DlnError, FencingToken, RoleConfig, Subjects } from '@dln/contracts';
import { packShard } from '@dln/ml';
import { PsShard, PushAck } from '@dln/training';
import { loadVersionWeights } from '../inference-artifact';
import { supersessionOf, watchJobControl } from '../job-control';
import { servePsShard } from '../ps-responder';
import { ReportOutbox } from '../report-outbox';
import { evictPredecessor, settleReports } from './ps-role';
import { aborted, parseRoleConfig, RoleRuntime, startBackend } from './role-runtime';

/** A shard of a model version being scored: it serves pulls and refuses every push. */
class InferenceShard extends PsShard {
  override push(token: FencingToken): Promise<PushAck> {
    return Promise.reject(
      new DlnError(
        'INVALID_REQUEST',
        `ps shard of inference job ${token.jobId} serves a model version and takes no pushes (from ${token.role})`,
      ),
    );
  }
}

/** The inference settings of a ps role's config (refused without them). */
export function inferenceOf(config: RoleConfig): NonNullable<RoleConfig['inference']> {
  if (!config.inference)
    throw new DlnError('INVALID_REQUEST', 'an inference role needs RoleConfig.inference');
  return config.inference;
}

/**
 * The ps role of an inference job: loads its slice of the model version's weights from the
 * artifact in the Object Store (the layout of the version's training job), serves pulls until
 * stopped, refuses pushes. A replacement (or a rolled-back one) loads the same slice again: the
 * weights never change, so there is nothing to checkpoint or restore.
 */
export async function runInferencePsRole(raw: unknown, runtime: RoleRuntime): Promise<void> {
  const config = parseRoleConfig(raw, 'ps');
  const inference = inferenceOf(config);
  const { nc, log } = runtime;
  const subjects = new Subjects(config.subjectRoot);
  const outbox = new ReportOutbox(nc, subjects, config.token.jobId);
  await startBackend(runtime);
  const weights = await loadVersionWeights(nc, subjects, inference.objects, config.parameters);
  const shard = new InferenceShard({
    token: config.token,
    shard: config.index,
    workers: config.workers,
    mode: 'async',
    optimizer: config.training.optimizer,
    params: packShard(config.parameters, config.index, weights),
  });

  const superseded = new AbortController();
  const stopSuperseded = (reason: string): void => {
    if (superseded.signal.aborted) return;
    log('warn', 'ps shard superseded, stopping', { reason });
    superseded.abort(reason);
  };
  const notices = watchJobControl(nc, subjects, config.token.jobId, (notice) => {
    const reason = supersessionOf(config.token, notice);
    if (reason !== null) stopSuperseded(reason);
  });
  if (config.start !== 'fresh') await evictPredecessor(nc, subjects, config);
  const responder = servePsShard({
    nc,
    subjects,
    jobId: config.token.jobId,
    shardIndex: config.index,
    shard,
    onError: (error, subject) =>
      log('warn', 'ps request failed', {
        subject,
        error: error instanceof Error ? error.message : String(error),
      }),
    onSuperseded: (error) => stopSuperseded(error.message),
  });
  outbox.send({ type: 'started', token: config.token });
  runtime.ready();
  log('info', 'inference ps shard serving', {
    shard: config.index,
    size: shard.size,
    model: inference.settings.model,
    version: inference.settings.version,
  });
  try {
    await Promise.race([aborted(runtime.signal), aborted(superseded.signal)]);
  } finally {
    notices.unsubscribe();
    await responder.close();
    shard.close(
      new DlnError('UNAVAILABLE', `ps shard ${config.index} stopped`, { retryable: true }),
    );
  }
  if (!superseded.signal.aborted) outbox.send({ type: 'finished', token: config.token });
  await settleReports(outbox, runtime);
}
