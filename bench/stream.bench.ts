// Prediction topics at a fixed offered rate: flights records stored straight into the raw stream
// in the stored format (as ingest stores them) at 2,000 records/s; the prediction service (built
// dist, a separate process) scores them with a scorer (POST /v1/scorers) and publishes each
// score on the model's predictions stream. Measured: records/s sustained end to end and the
// latency from a record's send to its score arriving on the prediction topic (p50/p99); then the
// same round with a streaming training job running beside it (its own stack of services on this
// machine, bench/stream/training-beside.ts; BENCH_STREAM_TRAINING=0 skips it). Then the REST
// p99 at a fixed request rate, steady vs while the default version is swapped every second.
// Loopback only; every loop is bounded in count and time.
// Run: npm run bench:stream. Last line (scoring only):
// {"offered_per_s":..,"sustained_per_s":..,"p50_ms":..,"p99_ms":..}
import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { ModelAnnouncement, ModelVersion, Subjects } from '@dln/contracts';
import { connectNats, decodeJson, encodeJson, type NatsConnection } from '@dln/messaging';
import { selectBackend } from '@dln/ml';
import {
  deleteStreamsOfRoot,
  ensureRawStream,
  ServiceProcess,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { LoadClient, openLoop, percentile } from './predict/http-load';
import { fitFlights, flights, MODEL, storeFlightsModel } from './predict/setup';
import { answerControl, feedAtRate, storedFlights } from './stream/feed';
import { startTrainingBeside } from './stream/training-beside';

const OFFERED_PER_S = Number(process.env['BENCH_STREAM_RATE'] ?? 2_000);
const WARMUP_RECORDS = 2_000;
const MEASURED_RECORDS = 16_000;
const FEED_MAX_SECONDS = 30;
const REST_PER_S = 500;
const REST_SECONDS = 5;
const SWAPS = 4;
const log = (line: string): void => void process.stdout.write(`${line}\n`);
const round = (x: number, digits = 0): number => Number(x.toFixed(digits));
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/**
 * The service's event-loop delay since the previous call, in ms (prom-client's
 * monitorEventLoopDelay gauges, which it resets at every scrape): call once to start a phase.
 */
async function loopDelay(base: string): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const read = (name: string): number => {
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`dln_nodejs_eventloop_lag_${name}_seconds`));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) * 1000 : NaN;
  };
  return { p99: read('p99'), max: read('max') };
}

/**
 * A preload script that CPU-profiles the process it runs in and writes the profile to `dir` at
 * exit (Node 20 refuses --cpu-prof in NODE_OPTIONS, and the service is spawned by ServiceProcess).
 */
function profileHook(dir: string): string {
  const file = join(dir, 'cpu-profile-hook.cjs');
  writeFileSync(
    file,
    `const inspector = require('node:inspector');
const fs = require('node:fs');
const session = new inspector.Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 250 });
session.post('Profiler.start');
process.once('SIGTERM', () => {
  session.post('Profiler.stop', (error, result) => {
    if (!error) fs.writeFileSync(${JSON.stringify(dir)} + '/prediction-' + process.pid + '.cpuprofile', JSON.stringify(result.profile));
  });
});
`,
  );
  return file;
}

/** Model calls and rows of the service so far (its /metrics), to tell the mean batch scored. */
async function modelCalls(base: string): Promise<{ calls: number; rows: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const read = (name: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
  };
  return { calls: read('dln_prediction_model_calls'), rows: read('dln_prediction_model_rows') };
}

/** CPU seconds (user + system) a process used so far, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

interface Round {
  sustained: number;
  p50: number;
  p99: number;
  received: number;
}

/** Feeds `count` records at the offered rate and times each one's score on the topic. */
async function scoringRound(
  nc: NatsConnection,
  subjects: Subjects,
  records: ReturnType<typeof storedFlights>,
  prefix: string,
  count: number,
): Promise<Round> {
  const batch = Array.from({ length: count }, (_, i) => ({
    id: `${prefix}${i}`,
    record: { ...records[i % records.length]!, _id: `${prefix}${i}` },
  }));
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let lastAt = 0;
  const subscription = nc.subscribe(subjects.predictions(MODEL), {
    callback: (_e, msg) => {
      const now = performance.now();
      const { id } = decodeJson(msg.data) as { id: string };
      const sent = sentAt.get(id);
      if (sent === undefined) return;
      sentAt.delete(id);
      latencies.push(now - sent);
      lastAt = now;
    },
  });
  const started = performance.now();
  const fed = await feedAtRate(nc, subjects, batch, OFFERED_PER_S, sentAt, FEED_MAX_SECONDS);
  await waitFor('every score', () => latencies.length >= fed.sent, 30_000, 20).catch(() => false);
  subscription.unsubscribe();
  return {
    sustained: latencies.length / ((lastAt - started) / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    received: latencies.length,
  };
}

async function main(): Promise<void> {
  const root = uniqueRoot('bench_stream');
  const subjects = new Subjects(root);
  const nc = await connectNats({ servers: TEST_NATS_URL, name: 'bench-stream' });
  let service: ServiceProcess | undefined;
  const subscriptions: { unsubscribe(): void }[] = [];
  try {
    await selectBackend({ log, warn: log });
    const data = flights();
    const records = storedFlights(data);
    const snapshot = fitFlights(data);
    const catalogue: ModelVersion[] = [await storeFlightsModel(nc, subjects, snapshot)];
    subscriptions.push(...answerControl(nc, subjects, catalogue));
    await ensureRawStream(nc, subjects, 'flights');
    service = await ServiceProcess.start({
      app: 'prediction',
      env: {
        NATS_URL: TEST_NATS_URL,
        SUBJECT_ROOT: root,
        LOG_LEVEL: process.env['BENCH_STREAM_LOG_LEVEL'] ?? 'warn',
        // BENCH_STREAM_PROFILE=<dir>: the service writes a .cpuprofile there when it stops.
        ...(process.env['BENCH_STREAM_PROFILE']
          ? { NODE_OPTIONS: `--require ${profileHook(process.env['BENCH_STREAM_PROFILE'])}` }
          : {}),
      },
    });
    const base = service.url;
    await waitFor(
      'the model to load',
      async () => (await (await fetch(`${base}/v1/models/${MODEL}`)).text()).includes('AVAILABLE'),
      60_000,
    );
    const declared = await fetch(`${base}/v1/scorers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench', source: 'flights', model: MODEL }),
    });
    if (declared.status !== 201) throw new Error(`scorer: HTTP ${declared.status}`);
    log(`flights: ${records.length} stored records; load average ${load()}`);

    await scoringRound(nc, subjects, records, 'w', WARMUP_RECORDS);
    const cpuBefore = cpuSeconds(service.pid);
    await loopDelay(base);
    const callsBefore = await modelCalls(base);
    const scoring = await scoringRound(nc, subjects, records, 'm', MEASURED_RECORDS);
    const scoringLoop = await loopDelay(base);
    const callsAfter = await modelCalls(base);
    const meanBatch = (callsAfter.rows - callsBefore.rows) / (callsAfter.calls - callsBefore.calls);
    const cpuPerRecord = ((cpuSeconds(service.pid) - cpuBefore) * 1e6) / scoring.received;
    log(
      `scoring only, offered ${OFFERED_PER_S}/s, ${scoring.received}/${MEASURED_RECORDS} scores: sustained ${round(scoring.sustained)}/s, ingest->topic p50 ${scoring.p50.toFixed(2)} ms, p99 ${scoring.p99.toFixed(2)} ms; prediction process CPU ${cpuPerRecord.toFixed(0)} us/record, mean model batch ${meanBatch.toFixed(1)} rows, event-loop delay p99 ${scoringLoop.p99.toFixed(1)} ms, max ${scoringLoop.max.toFixed(1)} ms; load average ${load()}`,
    );
    // BENCH_STREAM_TRAINING=0 skips the round with a streaming training job beside the scorer.
    if (process.env['BENCH_STREAM_TRAINING'] !== '0') {
      const stopTraining = await startTrainingBeside(log).catch((error: unknown) => {
        log(`with streaming training beside it: not run (${String(error)})`);
        return undefined;
      });
      if (stopTraining) {
        const cpuBeside = cpuSeconds(service.pid);
        const beside = await scoringRound(nc, subjects, records, 't', MEASURED_RECORDS).finally(
          stopTraining,
        );
        const besideCpu = ((cpuSeconds(service.pid) - cpuBeside) * 1e6) / beside.received;
        log(
          `with streaming training beside it, offered ${OFFERED_PER_S}/s, ${beside.received}/${MEASURED_RECORDS} scores: sustained ${round(beside.sustained)}/s, ingest->topic p50 ${beside.p50.toFixed(2)} ms, p99 ${beside.p99.toFixed(2)} ms; prediction process CPU ${besideCpu.toFixed(0)} us/record; load average ${load()}`,
        );
      }
    }

    // REST during swaps: versions 2..5 are stored first, so a swap costs only their loading.
    for (let v = 2; v <= SWAPS + 1; v += 1)
      catalogue.push(await storeFlightsModel(nc, subjects, snapshot, v, 42 + v));
    const client = new LoadClient(service.port, 64);
    const singles = data
      .slice(0, 1000)
      .map(({ delay: _d, ...rest }) => Buffer.from(JSON.stringify({ instances: [rest] })));
    let next = 0;
    const send = () =>
      client.post(`/v1/models/${MODEL}:predict`, singles[next++ % singles.length]!);
    await openLoop(send, REST_PER_S, 1);
    await loopDelay(base);
    const steady = await openLoop(send, REST_PER_S, REST_SECONDS);
    const steadyLoop = await loopDelay(base);
    const swapping = (async () => {
      for (let v = 2; v <= SWAPS + 1; v += 1) {
        await new Promise((resolve) => setTimeout(resolve, (REST_SECONDS * 1000) / (SWAPS + 1)));
        for (const entry of catalogue) entry.isDefault = entry.version === v;
        const announcement: ModelAnnouncement = {
          model: MODEL,
          version: v,
          defaultVersion: v,
          change: 'added',
        };
        nc.publish(subjects.modelAnnouncements(), encodeJson(announcement));
      }
    })();
    const during = await openLoop(send, REST_PER_S, REST_SECONDS);
    await swapping;
    const swapLoop = await loopDelay(base);
    client.close();
    const served = (await (await fetch(`${base}/v1/models`)).json()) as {
      models: Record<string, number>;
    };
    const steadyP99 = percentile(
      steady.map((s) => s.clientMs),
      99,
    );
    const swapP99 = percentile(
      during.map((s) => s.clientMs),
      99,
    );
    log(
      `REST ${REST_PER_S} req/s, batch 1: steady p99 ${steadyP99.toFixed(2)} ms; during ${SWAPS} swaps p99 ${swapP99.toFixed(2)} ms (${(swapP99 / steadyP99).toFixed(2)}x; default now v${served.models[MODEL]}); every request answered 200; event-loop delay max steady ${steadyLoop.max.toFixed(1)} ms, during swaps ${swapLoop.max.toFixed(1)} ms; load average ${load()}`,
    );
    for (const line of service.logs.filter((l) => l.includes('"version loaded"'))) log(`  ${line}`);
    log(`load average at the end ${load()} (2 cores; others' processes count)`);
    log(
      JSON.stringify({
        offered_per_s: OFFERED_PER_S,
        sustained_per_s: round(scoring.sustained),
        p50_ms: round(scoring.p50, 2),
        p99_ms: round(scoring.p99, 2),
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
