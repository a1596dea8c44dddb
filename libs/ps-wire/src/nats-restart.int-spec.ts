import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FencingToken, modelSpecSchema, Subjects, trainingSettingsSchema } from '@dln/contracts';
import { connectNats, ensureStream, jetStreamManagerOf, NatsConnection } from '@dln/messaging';
import { denseBinarySchema, selectBackend } from '@dln/ml';
import { PrivateNatsServer, uniqueRoot, waitFor } from '@dln/testing';
import { PsShard, syntheticExamples } from '@dln/training';
import { NatsShardClient } from './ps-client';
import { servePsShard } from './ps-responder';
import { withPushFaults } from './testing/faults';
import { publishExamples } from './testing/role-cluster';
import { RoleHarness } from './testing/role-harness';

const root = uniqueRoot('nats_restart');
const subjects = new Subjects(root);
const quiet = (): void => undefined;
/** Runs one stage of a test; an error names the stage (a bare NATS TimeoutError does not). */
async function stage<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw new Error(`${name}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}
const token = (role: string): FencingToken => ({
  jobId: 'restartwire',
  generation: 0,
  role,
  attempt: 0,
});

describe('roles ride out a NATS restart (private nats-server)', () => {
  let server: PrivateNatsServer;
  let nc: NatsConnection;
  /** The test connection's status events, named in a setup stage's error. */
  const statusEvents: string[] = [];

  beforeAll(async () => {
    await selectBackend({ log: quiet, warn: quiet });
    server = await PrivateNatsServer.start();
    nc = await connectNats({ servers: server.url, name: 'nats-restart-test' });
    void (async () => {
      for await (const status of nc.status()) statusEvents.push(status.type);
    })();
  }, 60_000);

  /**
   * The first test restarted NATS under the test connection: setup requests on it wait until it
   * answers again (a request sent before its reconnect once timed out in CI after 5 s).
   */
  const onceAnswering = async <T>(what: string, work: () => Promise<T>): Promise<T> =>
    waitFor(
      `${what} (test connection events: ${statusEvents.join(', ') || 'none'})`,
      async () => {
        await Promise.race([
          nc.flush(),
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error('no PONG within 5 s')), 5_000).unref(),
          ),
        ]);
        return { value: await work() };
      },
      60_000,
      500,
    ).then((answer) => answer.value);

  afterAll(async () => {
    await nc.close();
    await server.dispose();
  });

  /** Stops NATS for `downMs`, then starts it again on the same port and store. */
  const restartNats = async (downMs: number): Promise<void> => {
    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await server.resume();
  };

  it('a push whose reply was lost in the restart is sent again and applied once', async () => {
    const shardConnection = await connectNats({ servers: server.url, name: 'ps-0' });
    const shard = new PsShard({
      token: token('ps-0'),
      shard: 0,
      workers: 1,
      mode: 'async',
      optimizer: { kind: 'sgd', learningRate: 1 },
      params: new Float32Array([0, 0, 0]),
    });
    let arrivals = 0;
    let restarted: Promise<void> | undefined;
    const push = shard.push.bind(shard);
    shard.push = async (...args) => {
      arrivals += 1;
      const ack = await push(...args);
      // Applied; NATS goes away before the reply leaves.
      if (arrivals === 1) await (restarted = restartNats(2500));
      return ack;
    };
    const responder = servePsShard({
      nc: shardConnection,
      subjects,
      jobId: 'restartwire',
      shardIndex: 0,
      shard,
    });
    await shardConnection.flush();
    const workerConnection = await connectNats({ servers: server.url, name: 'worker-0' });
    const client = new NatsShardClient({
      nc: workerConnection,
      subjects,
      token: token('worker-0'),
      shardSizes: [3],
      timeoutMs: 1000,
      unavailableMs: 60_000,
    });
    const ack = await client.push(0, 0, 4, new Float32Array([1, 2, 3]));
    await restarted;
    expect(arrivals).toBeGreaterThanOrEqual(2);
    expect(ack.updateCount).toBe(1);
    expect(shard.updateCount).toBe(1);
    expect(Array.from(await client.pull(0, 1))).toEqual([-1, -2, -3]);
    await responder.close();
    await shardConnection.close();
    await workerConnection.close();
  }, 60_000);

  it('a sync job whose NATS restarts mid-epoch reaches the same model as without the restart', async () => {
    const pipeline = 'synthetic';
    await stage('declaring the examples stream', () =>
      onceAnswering('the examples stream', async () =>
        ensureStream(await jetStreamManagerOf(nc), {
          name: subjects.examplesStream(pipeline),
          subjects: [subjects.examplesEveryVersion(pipeline)],
        }),
      ),
    );
    await stage('publishing the examples', async () => {
      await publishExamples(
        nc,
        subjects.examples(pipeline, 1, 'train'),
        syntheticExamples(2000, 8, 5, 't'),
      );
      await publishExamples(
        nc,
        subjects.examples(pipeline, 1, 'validation'),
        syntheticExamples(300, 8, 6, 'v'),
      );
    });
    const base = {
      natsUrl: server.url,
      root,
      workers: 2,
      shards: 2,
      model: modelSpecSchema.parse({ kind: 'mlp', hidden: [16] }),
      schema: denseBinarySchema(8),
      training: trainingSettingsSchema.parse({
        epochs: 2,
        batchSize: 64,
        optimizer: { kind: 'adam', learningRate: 0.01 },
        updateMode: 'sync',
        seed: 3,
      }),
      examples: { pipeline, version: 1, trainCount: 2000, validationCount: 300 },
    };
    const run = async (jobId: string, restartAtStep?: number): Promise<Float32Array> => {
      const harness = await stage(`${jobId}: starting the harness`, () =>
        RoleHarness.start({ ...base, jobId }),
      );
      try {
        await Promise.all([harness.startPs(0), harness.startPs(1)]);
        let restarted = false;
        const workers = await Promise.all(
          [0, 1].map((index) =>
            harness.startWorker(
              index,
              {},
              {
                wrapClient: (client) =>
                  withPushFaults(client, {
                    before: async (step) => {
                      if (index !== 0 || step !== restartAtStep || restarted) return;
                      restarted = true;
                      await restartNats(1500);
                    },
                  }),
              },
            ),
          ),
        );
        for (const worker of workers) expect(await worker.ended).toBeUndefined();
        if (restartAtStep !== undefined) expect(restarted).toBe(true);
        const params = workers[0]?.result?.params;
        if (!params) throw new Error('no model');
        return params;
      } finally {
        await stage(`${jobId}: closing the harness`, () => harness.close());
      }
    };
    const plain = await stage('the undisturbed run', () => run('plain'));
    const disturbed = await stage('the run with a restart', () => run('restarted', 20));
    let maxDiff = 0;
    plain.forEach((value, i) => (maxDiff = Math.max(maxDiff, Math.abs(value - disturbed[i]!))));
    expect(maxDiff).toBeLessThan(1e-5);
  }, 180_000);
});
