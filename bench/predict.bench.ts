// REST prediction: batch-256 throughput next to the same version's pipeline + model run
// in-process on the same records (same run); single-record latency at a fixed 1,000 requests/s,
// at the client and inside the server (x-server-time-ms); and the most single-record requests/s
// one instance sustains with concurrent clients (requests merged into one model call per turn).
// The service runs as a separate process (built dist), loopback only; every loop is bounded.
// Run: npm run bench:predict. Last line: {"rest_b256_ex_per_s":..,"raw_b256_ex_per_s":..,
// "p99_ms_at_1000_rps":..,"server_p99_ms_at_1000_rps":..,"max_b1_req_per_s":..}
import 'reflect-metadata';
import { loadavg } from 'node:os';
import { Subjects } from '@dln/contracts';
import { connectNats } from '@dln/messaging';
import { selectBackend } from '@dln/ml';
import { DEFAULT_SERVING_LIMITS, LoadedModel, servableFromBlobs } from '@dln/serving';
import {
  deleteStreamsOfRoot,
  ServiceProcess,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { closedLoop, LoadClient, openLoop, percentile } from './predict/http-load';
import {
  answerControl,
  declaration,
  fitFlights,
  flights,
  loadBlobs,
  MODEL,
  storeFlightsModel,
} from './predict/setup';

const BATCH = 256;
const SECONDS = 4;
/** Raw and REST batch-256 runs alternate, so that both see the same machine (it is noisy). */
const ROUNDS = 3;
const ROUND_SECONDS = 2;
const log = (line: string): void => void process.stdout.write(`${line}\n`);
const round = (x: number, digits = 0): number => Number(x.toFixed(digits));
const round0 = (x: number): number => round(x);

function instancesOf(records: Record<string, unknown>[]): Record<string, unknown>[] {
  return records.map(({ delay: _delay, ...rest }) => rest);
}

/** The raw baseline: the same artifact's pipeline and model in this process, on the same records. */
async function rawThroughput(
  model: LoadedModel,
  records: Record<string, unknown>[][],
  seconds: number,
): Promise<number> {
  const started = performance.now();
  let examples = 0;
  for (let i = 0; performance.now() - started < seconds * 1000 && i < 100_000; i += 1) {
    const batch = model.encoder.encode({ instances: records[i % records.length] }, 'predict');
    model.run(batch);
    examples += batch.size;
  }
  return examples / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const root = uniqueRoot('bench_predict');
  const subjects = new Subjects(root);
  const nc = await connectNats({ servers: TEST_NATS_URL, name: 'bench-predict' });
  let service: ServiceProcess | undefined;
  const subscriptions: { unsubscribe(): void }[] = [];
  try {
    await selectBackend({ log, warn: log });
    const data = flights();
    const snapshot = fitFlights(data);
    const version = await storeFlightsModel(nc, subjects, snapshot);
    subscriptions.push(...answerControl(nc, subjects, version));
    service = await ServiceProcess.start({
      app: 'prediction',
      env: { NATS_URL: TEST_NATS_URL, SUBJECT_ROOT: root, LOG_LEVEL: 'info' },
    });
    const port = service.port;
    await waitFor(
      'the model to load',
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/v1/models/${MODEL}`);
        return res.status === 200 && (await res.text()).includes('AVAILABLE');
      },
      60_000,
    );

    const batches: Record<string, unknown>[][] = [];
    for (let i = 0; i + BATCH <= 40 * BATCH; i += BATCH)
      batches.push(instancesOf(data.slice(i, i + BATCH)));
    const bodies = batches.map((instances) => Buffer.from(JSON.stringify({ instances })));
    log(
      `batch-256 body: ${bodies[0]!.byteLength} bytes; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );

    const raw = new LoadedModel(
      MODEL,
      1,
      await servableFromBlobs(await loadBlobs(nc, subjects, version), async () => declaration),
      DEFAULT_SERVING_LIMITS,
    );
    await rawThroughput(raw, batches.slice(0, 4), 1); // warm-up

    const client = new LoadClient(port, 256);
    const path = `/v1/models/${MODEL}:predict`;
    let next = 0;
    const sendBatch = () => client.post(path, bodies[next++ % bodies.length]!);
    await closedLoop(sendBatch, 4, 1, 1_000);
    let rawPerS = 0;
    let restPerS = 0;
    for (let r = 1; r <= ROUNDS; r += 1) {
      const rawRound = await rawThroughput(raw, batches, ROUND_SECONDS);
      const run = await closedLoop(sendBatch, 4, ROUND_SECONDS, 100_000);
      const restRound = (run.count * BATCH) / run.seconds;
      log(
        `round ${r}, batch ${BATCH}: raw in-process ${round0(rawRound)} examples/s, REST (4 requests outstanding) ${round0(restRound)} examples/s (${(restRound / rawRound).toFixed(2)}x)`,
      );
      rawPerS = Math.max(rawPerS, rawRound);
      restPerS = Math.max(restPerS, restRound);
    }
    log(
      `best of ${ROUNDS}: REST ${round0(restPerS)} / raw ${round0(rawPerS)} examples/s = ${(restPerS / rawPerS).toFixed(2)}x`,
    );

    const singles = instancesOf(data.slice(20_000 - 1000)).map((instance) =>
      Buffer.from(JSON.stringify({ instances: [instance] })),
    );
    const sendOne = () => client.post(path, singles[next++ % singles.length]!);
    await closedLoop(sendOne, 16, 1, 20_000);
    const samples = await openLoop(sendOne, 1000, 5);
    if (process.env['BENCH_DEBUG']) {
      const t0 = samples[0]!.sentAt;
      const slow = [...samples].sort((a, b) => b.clientMs - a.clientMs).slice(0, 15);
      for (const s of slow)
        log(
          `slow: at ${(s.sentAt - t0).toFixed(1)} ms client ${s.clientMs.toFixed(1)} server ${s.serverMs}`,
        );
    }
    const p99 = percentile(
      samples.map((s) => s.clientMs),
      99,
    );
    const serverP99 = percentile(
      samples.map((s) => s.serverMs),
      99,
    );
    log(
      `1,000 req/s, batch 1 (${samples.length} requests): client p50 ${percentile(
        samples.map((s) => s.clientMs),
        50,
      ).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms; ` +
        `server p50 ${percentile(
          samples.map((s) => s.serverMs),
          50,
        ).toFixed(3)} ms, p99 ${serverP99.toFixed(3)} ms`,
    );

    let maxPerS = 0;
    for (const lanes of [32, 64, 128]) {
      const run = await closedLoop(sendOne, lanes, SECONDS, 200_000);
      const perS = run.count / run.seconds;
      log(`batch 1, ${lanes} concurrent clients: ${round(perS)} requests/s`);
      maxPerS = Math.max(maxPerS, perS);
    }
    client.close();
    log(
      `load average at the end ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} (2 cores; others' processes count)`,
    );
    log(
      JSON.stringify({
        rest_b256_ex_per_s: round(restPerS),
        raw_b256_ex_per_s: round(rawPerS),
        p99_ms_at_1000_rps: round(p99, 2),
        server_p99_ms_at_1000_rps: round(serverP99, 3),
        max_b1_req_per_s: round(maxPerS),
      }),
    );
  } finally {
    for (const s of subscriptions) s.unsubscribe();
    await service?.stop();
    await deleteStreamsOfRoot(nc, root);
    await nc.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
