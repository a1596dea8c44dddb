import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCode,
  modelSpecSchema,
  RoleStart,
  Subjects,
  TrainingSettings,
  trainingSettingsSchema,
} from '@dln/contracts';
import { connectNats, ensureStream, jetStreamManagerOf, NatsConnection } from '@dln/messaging';
import { denseBinarySchema, selectBackend } from '@dln/ml';
import { deleteStreamsOfRoot, TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import { syntheticExamples } from '@dln/training';
import { deferred, lastProgress, withPushFaults } from './testing/faults';
import { RoleHandle, RoleHarness } from './testing/role-harness';
import { publishExamples } from './testing/role-cluster';

const root = uniqueRoot('worker_failover');
const subjects = new Subjects(root);
const pipeline = 'synthetic';
const schema = denseBinarySchema(8);
const model = modelSpecSchema.parse({ kind: 'mlp', hidden: [16] });
const examples = { pipeline, version: 1, trainCount: 3000, validationCount: 500 };
const settings = (updateMode: 'sync' | 'async'): TrainingSettings =>
  trainingSettingsSchema.parse({
    epochs: 3,
    batchSize: 64,
    optimizer: { kind: 'adam', learningRate: 0.01 },
    updateMode,
    seed: 3,
  });
/** A step in the second epoch (about 24 steps each). */
const KILL_STEP = 30;
const quiet = (): void => undefined;

interface Run {
  params: Float32Array;
  auc: number;
  harness: RoleHarness;
}

describe('a worker lost mid-epoch and replaced by attempt + 1 (real NATS)', () => {
  let nc: NatsConnection;
  const harnesses: RoleHarness[] = [];
  const undisturbed = new Map<string, Run>();

  beforeAll(async () => {
    await selectBackend({ log: quiet, warn: quiet });
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'worker-failover-test' });
    await ensureStream(await jetStreamManagerOf(nc), {
      name: subjects.examplesStream(pipeline),
      subjects: [subjects.examplesEveryVersion(pipeline)],
    });
    const train = syntheticExamples(3000, 8, 5, 't');
    await publishExamples(nc, subjects.examples(pipeline, 1, 'train'), train);
    const validation = syntheticExamples(500, 8, 6, 'v');
    await publishExamples(nc, subjects.examples(pipeline, 1, 'validation'), validation);
  });

  afterAll(async () => {
    for (const harness of harnesses) await harness.close();
    await deleteStreamsOfRoot(nc, root);
    await nc.drain();
  });

  const harnessFor = async (jobId: string, mode: 'sync' | 'async'): Promise<RoleHarness> => {
    const harness = await RoleHarness.start({
      natsUrl: TEST_NATS_URL,
      root,
      jobId,
      workers: 2,
      shards: 2,
      model,
      schema,
      training: settings(mode),
      examples,
    });
    harnesses.push(harness);
    return harness;
  };

  const finish = async (harness: RoleHarness, w0: RoleHandle, w1: RoleHandle): Promise<Run> => {
    expect(await w0.ended).toBeUndefined();
    expect(await w1.ended).toBeUndefined();
    const result = w0.result;
    if (!result?.params || result.metrics?.auc === undefined) throw new Error('no model');
    return { params: result.params, auc: result.metrics.auc, harness };
  };

  const runUndisturbed = async (mode: 'sync' | 'async'): Promise<Run> => {
    const known = undisturbed.get(mode);
    if (known) return known;
    const harness = await harnessFor(`plain-${mode}`, mode);
    await Promise.all([harness.startPs(0), harness.startPs(1)]);
    const [w0, w1] = await Promise.all([harness.startWorker(0), harness.startWorker(1)]);
    const run = await finish(harness, w0, w1);
    undisturbed.set(mode, run);
    return run;
  };

  /** Kills worker 1 as it is about to push KILL_STEP, then starts its replacement. */
  const runWithKilledWorker = async (mode: 'sync' | 'async') => {
    const harness = await harnessFor(`killed-${mode}`, mode);
    await Promise.all([harness.startPs(0), harness.startPs(1)]);
    const w0 = await harness.startWorker(0);
    let trainedBeforeKill = 0;
    const killed = deferred();
    const old: RoleHandle = await harness.startWorker(
      1,
      {},
      {
        wrapClient: (client) =>
          withPushFaults(client, {
            before: (step) => {
              if (step !== KILL_STEP) return;
              old.kill();
              killed.resolve();
              throw new Error('SIGKILL');
            },
            acked: (shard, _step, count) => {
              if (shard === 0) trainedBeforeKill += count;
            },
          }),
      },
    );
    await killed.promise;
    await old.ended;
    const replacement = await harness.startWorker(1, { attempt: 1, start: RoleStart.Replacement });
    await harness.notify({
      type: 'role-replaced',
      jobId: old.token.jobId,
      superseded: old.token,
      by: replacement.token,
      reason: 'worker-1 lost',
    });
    const run = await finish(harness, w0, replacement);
    return { run, trainedBeforeKill, replacement };
  };

  /** Every worker's last progress says it trained its whole part every epoch, nothing more. */
  const expectExactAccounting = (killed: RoleHarness, plain: RoleHarness): void => {
    const now = lastProgress(killed.reports, { 'worker-1': 1 });
    const then = lastProgress(plain.reports);
    const total = [...now.values()].reduce((sum, report) => sum + report.examples, 0);
    expect(total).toBe(3 * examples.trainCount);
    expect(now.get('worker-1')?.examples).toBe(then.get('worker-1')?.examples);
  };

  it('sync: the step waits for the replacement, which resumes at the shards’ position: the same model, exact accounting', async () => {
    const plain = await runUndisturbed('sync');
    const { run, trainedBeforeKill, replacement } = await runWithKilledWorker('sync');
    let maxDiff = 0;
    plain.params.forEach((value, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(value - (run.params[i] as number)));
    });
    expect(maxDiff).toBeLessThan(1e-5);
    expectExactAccounting(run.harness, plain.harness);
    // What the killed incarnation trained plus what its replacement trained: its part, 3 times.
    const part = lastProgress(plain.harness.reports).get('worker-1')?.examples ?? 0;
    expect(trainedBeforeKill + (replacement.result?.examples ?? 0)).toBe(part);
    expect(trainedBeforeKill).toBeGreaterThan(0);
  });

  it('async: the replacement continues at the position the shards acknowledged: the same quality, exact accounting', async () => {
    const plain = await runUndisturbed('async');
    const { run, trainedBeforeKill, replacement } = await runWithKilledWorker('async');
    expect(Math.abs(run.auc - plain.auc)).toBeLessThan(0.01);
    expectExactAccounting(run.harness, plain.harness);
    const part = lastProgress(plain.harness.reports).get('worker-1')?.examples ?? 0;
    expect(trainedBeforeKill + (replacement.result?.examples ?? 0)).toBe(part);
  });

  it('sync: the stalled old incarnation’s push after its replacement is FENCED, and it stops', async () => {
    const plain = await runUndisturbed('sync');
    const harness = await harnessFor('fenced-sync', 'sync');
    await Promise.all([harness.startPs(0), harness.startPs(1)]);
    const w0 = await harness.startWorker(0);
    const stalled = deferred();
    const release = deferred();
    const pushedAfterRelease: number[] = [];
    const old = await harness.startWorker(
      1,
      {},
      {
        wrapClient: (client) =>
          withPushFaults(client, {
            before: async (step) => {
              if (step < KILL_STEP) return;
              stalled.resolve();
              await release.promise;
              pushedAfterRelease.push(step);
            },
          }),
      },
    );
    await stalled.promise;
    // No notice: the replacement's own token tells the shards.
    const replacement = await harness.startWorker(1, { attempt: 1, start: RoleStart.Replacement });
    const started = (): boolean =>
      harness.reports.some((r) => r.type === 'started' && r.token.attempt === 1);
    while (!started()) await new Promise((resolve) => setTimeout(resolve, 50));
    release.resolve();
    const ended = await old.ended;
    expect(ended).toMatchObject({ code: ErrorCode.Fenced });
    // It stopped at the refused step and said nothing to the AM.
    expect(new Set(pushedAfterRelease)).toEqual(new Set([KILL_STEP]));
    expect(harness.reports.some((r) => r.type === 'failed')).toBe(false);
    const run = await finish(harness, w0, replacement);
    let maxDiff = 0;
    plain.params.forEach((value, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(value - (run.params[i] as number)));
    });
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it('sync: the roles train on while the AM is away over an epoch end; its evaluation and gate wait for the AM’s return', async () => {
    const plain = await runUndisturbed('sync');
    const harness = await harnessFor('am-away', 'sync');
    await Promise.all([harness.startPs(0), harness.startPs(1)]);
    let away: Promise<void> | undefined;
    const workers = await Promise.all(
      [0, 1].map((index) =>
        harness.startWorker(
          index,
          {},
          {
            wrapClient: (client) =>
              withPushFaults(client, {
                before: (step) => {
                  if (index !== 0 || step !== 20 || away) return;
                  // The AM dies a few steps before the end of epoch 0 and is back 3 s later.
                  away = harness.closeGate().then(async () => {
                    await new Promise((resolve) => setTimeout(resolve, 3000));
                    harness.openGate();
                  });
                },
              }),
          },
        ),
      ),
    );
    const [w0, w1] = workers as [RoleHandle, RoleHandle];
    const run = await finish(harness, w0, w1);
    expect(away).toBeDefined();
    let maxDiff = 0;
    plain.params.forEach((value, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(value - (run.params[i] as number)));
    });
    expect(maxDiff).toBeLessThan(1e-5);
    const evaluated = new Set(
      harness.reports.flatMap((r) => (r.type === 'evaluation' ? [r.epoch] : [])),
    );
    expect(evaluated).toEqual(new Set([0, 1, 2]));
  });
});
