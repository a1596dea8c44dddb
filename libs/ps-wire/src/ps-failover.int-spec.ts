import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  modelSpecSchema,
  RoleReport,
  RoleStart,
  Subjects,
  TrainingSettings,
  trainingSettingsSchema,
} from '@dln/contracts';
import { connectNats, ensureStream, jetStreamManagerOf, NatsConnection } from '@dln/messaging';
import { denseBinarySchema, selectBackend } from '@dln/ml';
import { deleteStreamsOfRoot, TEST_NATS_URL, uniqueRoot, waitFor } from '@dln/testing';
import { syntheticExamples } from '@dln/training';
import { withPushFaults } from './testing/faults';
import { RoleHandle, RoleHarness } from './testing/role-harness';
import { publishExamples } from './testing/role-cluster';

const root = uniqueRoot('ps_failover');
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
    checkpointEvery: 30,
  });
const quiet = (): void => undefined;

const checkpointed = (reports: readonly RoleReport[], step: number, generation = 0): boolean =>
  new Set(
    reports.flatMap((r) =>
      r.type === 'checkpoint' && r.step === step && r.token.generation === generation
        ? [r.shard]
        : [],
    ),
  ).size === 2;

describe('a ps shard lost and restored from the last checkpoint (real NATS)', () => {
  let nc: NatsConnection;
  const harnesses: RoleHarness[] = [];

  beforeAll(async () => {
    await selectBackend({ log: quiet, warn: quiet });
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'ps-failover-test' });
    await ensureStream(await jetStreamManagerOf(nc), {
      name: subjects.examplesStream(pipeline),
      subjects: [subjects.examplesEveryVersion(pipeline)],
    });
    await publishExamples(
      nc,
      subjects.examples(pipeline, 1, 'train'),
      syntheticExamples(3000, 8, 5, 't'),
    );
    await publishExamples(
      nc,
      subjects.examples(pipeline, 1, 'validation'),
      syntheticExamples(500, 8, 6, 'v'),
    );
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

  const runAll = async (harness: RoleHarness, generation = 0, restoreFrom?: string) => {
    const incarnation = restoreFrom
      ? { generation, restoreFrom, start: RoleStart.Rollback }
      : { generation };
    const shards = await Promise.all([0, 1].map((i) => harness.startPs(i, incarnation)));
    const workers = await Promise.all([0, 1].map((i) => harness.startWorker(i, incarnation)));
    for (const worker of workers) expect(await worker.ended).toBeUndefined();
    return { shards, workers };
  };

  const plainRuns = new Map<
    string,
    Awaited<ReturnType<typeof runAll>> & { harness: RoleHarness }
  >();
  const plainRun = async (mode: 'sync' | 'async') => {
    const known = plainRuns.get(mode);
    if (known) return known;
    const harness = await harnessFor(`plain-${mode}`, mode);
    const run = { ...(await runAll(harness)), harness };
    plainRuns.set(mode, run);
    return run;
  };

  it('sync: generation + 1 rolls every role back to the checkpoint; the old generation stops by itself; the same model as without the loss', async () => {
    const plain = await plainRun('sync');
    const expected = plain.workers[0]?.result?.params;

    const harness = await harnessFor('lost-sync', 'sync');
    const ps = await Promise.all([harness.startPs(0), harness.startPs(1)]);
    const killAt = 40;
    const w1 = await harness.startWorker(1);
    const w0 = await harness.startWorker(
      0,
      {},
      {
        wrapClient: (client) =>
          withPushFaults(client, {
            before: (step) => {
              if (step === killAt) ps[1]?.kill();
            },
          }),
      },
    );
    await waitFor('checkpoint 30 of both shards', () => checkpointed(harness.reports, 30), 60_000);
    await ps[1]?.ended;
    // What the AM does: the manifest of the last complete checkpoint, then generation 1.
    const manifest = await harness.writeManifest(0, 30);
    await harness.notify({
      type: 'generation',
      jobId: 'lost-sync',
      generation: 1,
      restoreFrom: manifest,
      reason: 'ps-1 lost (a ps shard in sync mode rolls every role back)',
    });
    const old: RoleHandle[] = [w0, w1, ps[0] as RoleHandle];
    for (const role of old) expect(await role.ended).toBeUndefined();
    expect(w0.result?.params).toBeUndefined();
    harness.openGate();
    const next = await runAll(harness, 1, manifest);
    const got = next.workers[0]?.result?.params;
    if (!expected || !got) throw new Error('no model');
    let maxDiff = 0;
    expected.forEach((value, i) => (maxDiff = Math.max(maxDiff, Math.abs(value - got[i]!))));
    expect(maxDiff).toBeLessThan(1e-5);
    const restored = harness.reports.flatMap((r) =>
      r.type === 'started' && r.restored ? [r.restored] : [],
    );
    expect(restored).toHaveLength(2);
    expect(restored.every((r) => r.from === manifest && r.step === 30)).toBe(true);
  });

  it('async: only the lost shard restores under attempt + 1, the other goes on, and the lost updates are counted', async () => {
    const plain = await plainRun('async');
    const plainAuc = plain.workers[0]?.result?.metrics?.auc ?? 0;

    const harness = await harnessFor('lost-async', 'async');
    const ps = await Promise.all([harness.startPs(0), harness.startPs(1)]);
    const ackedByShard1 = [0, 0];
    let ackedAtKill: number | undefined;
    const killAt = 45;
    const workers = await Promise.all(
      [0, 1].map((index) =>
        harness.startWorker(
          index,
          {},
          {
            wrapClient: (client) =>
              withPushFaults(client, {
                before: async (step) => {
                  if (index !== 0 || step !== killAt || ackedAtKill !== undefined) return;
                  await waitFor('checkpoint 60', () => checkpointed(harness.reports, 60), 60_000);
                  ackedAtKill = ackedByShard1[0]! + ackedByShard1[1]!;
                  ps[1]?.kill();
                },
                acked: (shard) => {
                  if (shard === 1 && ackedAtKill === undefined) ackedByShard1[index]! += 1;
                },
              }),
          },
        ),
      ),
    );
    await ps[1]?.ended;
    const manifest = await harness.writeManifest(0, 60);
    const replacement = await harness.startPs(1, {
      attempt: 1,
      start: RoleStart.Replacement,
      restoreFrom: manifest,
    });
    await harness.notify({
      type: 'role-replaced',
      jobId: 'lost-async',
      superseded: ps[1]!.token,
      by: replacement.token,
      reason: 'ps-1 lost',
    });
    for (const worker of workers) expect(await worker.ended).toBeUndefined();

    const started = harness.reports.find(
      (r) => r.type === 'started' && r.token.role === 'ps-1' && r.token.attempt === 1,
    );
    const lost = started?.type === 'started' ? started.restored?.lostUpdates : undefined;
    // What the lost incarnation applied after its checkpoint (a push in flight may count).
    const truth = (ackedAtKill ?? 0) - 60;
    expect(truth).toBeGreaterThan(0);
    // The count may exceed what the old shard applied by one push per worker (in flight at
    // the survivor), and `truth` may miss one applied push whose reply worker 1 had not read.
    expect(lost).toBeGreaterThanOrEqual(truth);
    expect(lost).toBeLessThanOrEqual(truth + 3);
    // Shard 0 was never restarted: it went on with every update.
    expect(harness.reports.some((r) => r.token.role === 'ps-0' && r.token.attempt > 0)).toBe(false);
    const auc = workers[0]?.result?.metrics?.auc ?? 0;
    expect(auc).toBeGreaterThan(plainAuc - 0.02);
  });

  it('async, restart-job: every role rolls back to the checkpoint under generation + 1; workers resume at the positions stored with it; exact accounting', async () => {
    const plain = await plainRun('async');
    const harness = await harnessFor('rollback-async', 'async');
    const old = await Promise.all([harness.startPs(0), harness.startPs(1)]);
    old.push(...(await Promise.all([0, 1].map((i) => harness.startWorker(i)))));
    await waitFor('checkpoint 60 of both shards', () => checkpointed(harness.reports, 60), 60_000);
    const manifest = await harness.writeManifest(0, 60);
    await harness.notify({
      type: 'generation',
      jobId: 'rollback-async',
      generation: 1,
      restoreFrom: manifest,
      reason: 'policy restart-job',
    });
    for (const role of old) expect(await role.ended).toBeUndefined();
    harness.openGate();
    const next = await runAll(harness, 1, manifest);
    const last = (reports: readonly RoleReport[], generation: number) =>
      reports.flatMap((r) =>
        r.type === 'progress' && r.token.generation === generation
          ? [[r.token.role, r.examples] as const]
          : [],
      );
    // Each worker's last progress counts its part every epoch: what the rollback re-trains
    // replaces what generation 0 trained after the checkpoint.
    const want = new Map(last(plain.harness.reports, 0));
    const got = new Map(last(harness.reports, 1));
    expect(got).toEqual(want);
    // ...and generation 1 trained only from the checkpoint on.
    for (const [index, worker] of next.workers.entries()) {
      expect(worker.result?.examples).toBeGreaterThan(0);
      expect(worker.result?.examples).toBeLessThan(want.get(`worker-${index}`) ?? 0);
    }
    const auc = next.workers[0]?.result?.metrics?.auc ?? 0;
    expect(auc).toBeGreaterThan((plain.workers[0]?.result?.metrics?.auc ?? 0) - 0.02);
  });

  it('a replacement shard evicts a predecessor that is still alive, without any notice', async () => {
    const harness = await harnessFor('evict', 'async');
    const old = await harness.startPs(1);
    await waitFor('ps-1 started', () => harness.reports.some((r) => r.type === 'started'));
    const replacement = await harness.startPs(1, { attempt: 1, start: RoleStart.Replacement });
    expect(await old.ended).toBeUndefined();
    await waitFor('the replacement serves', () =>
      harness.reports.some((r) => r.type === 'started' && r.token.attempt === 1),
    );
    // The superseded incarnation said nothing more; the replacement goes on serving.
    expect(harness.reports.some((r) => r.type === 'finished')).toBe(false);
    replacement.stop();
    expect(await replacement.ended).toBeUndefined();
  });
});
