// Ingest throughput: the flights records through the ingest service over REST and over NATS,
// next to a raw JetStream publish of the same records (one message per record with its
// Nats-Msg-Id, the same number of publishes in flight) in the same run. Payloads are serialized
// before the clock starts for every mode; the ingest service parses, validates and re-serializes.
// "raw-q" is the raw baseline without the client's per-request stack captures (as the service
// publishes); it is printed for reference and is not part of the JSON line.
// Run: npm run bench:ingest. Last line: {"rest_records_per_s":..,"nats_records_per_s":..,"raw_records_per_s":..}
import {
  IngestAck,
  ingestAckSchema,
  ingestResultSchema,
  RecordHeader,
  SourceDeclarationInput,
  Subjects,
} from '@dln/contracts';
import {
  connectNats,
  decodeJson,
  jetStreamOf,
  natsHeaders,
  type JetStreamClient,
  type NatsConnection,
} from '@dln/messaging';
import { deleteStreamsOfRoot, ServiceProcess, TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const IN_FLIGHT = 256;
const BATCH = 5_000;
const ROUNDS = 5;
/**
 * Ingest requests kept outstanding by the client. The service's publish window
 * (INGEST_PUBLISH_IN_FLIGHT = IN_FLIGHT) is shared by all requests, so the service never has more
 * than IN_FLIGHT publishes in flight, like the raw baseline; the second request only hides the
 * gap between one request's last ack and the next request's first publish.
 */
const REQUESTS_OUTSTANDING = 2;

interface Flight {
  date: string;
  delay: number;
  distance: number;
  origin: string;
  destination: string;
}

const fields: SourceDeclarationInput['fields'] = [
  { name: 'date', type: 'timestamp' },
  { name: 'delay', type: 'integer' },
  { name: 'distance', type: 'number' },
  { name: 'origin', type: 'string' },
  { name: 'destination', type: 'string' },
];

function batches<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function declare(baseUrl: string, name: string): Promise<void> {
  const res = await fetch(`${baseUrl}/v1/sources`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, fields }),
  });
  if (res.status !== 201) throw new Error(`declaring ${name}: ${res.status} ${await res.text()}`);
}

/**
 * The raw baseline: what a producer publishing straight to JetStream gets, same window. With
 * `quiet`, it also skips the client's per-request stack captures, as the ingest service does
 * (reported beside the baseline, so the ratio can be read against an equally tuned producer).
 */
async function publishRaw(
  js: JetStreamClient,
  subject: string,
  source: string,
  payloads: string[],
  offset: number,
  quiet: boolean,
): Promise<number> {
  return new Promise((resolveAll, reject) => {
    let next = 0;
    let pending = 0;
    let stored = 0;
    const pump = (): void => {
      while (pending < IN_FLIGHT && next < payloads.length) {
        const id = String(offset + next);
        const headers = natsHeaders();
        headers.set(RecordHeader.recordId, id);
        const payload = payloads[next] as string;
        next += 1;
        pending += 1;
        const limit = Error.stackTraceLimit;
        if (quiet) Error.stackTraceLimit = 0;
        const acked = js.publish(subject, payload, { msgID: `${source}:${id}`, headers });
        Error.stackTraceLimit = limit;
        acked.then((ack) => {
          pending -= 1;
          if (!ack.duplicate) stored += 1;
          pump();
        }, reject);
      }
      if (pending === 0 && next >= payloads.length) resolveAll(stored);
    };
    pump();
  });
}

/** Runs `send` over the batches with `REQUESTS_OUTSTANDING` requests outstanding, summing what it returns. */
async function pipelined(count: number, send: (index: number) => Promise<number>): Promise<number> {
  let next = 0;
  let total = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next;
      next += 1;
      const stored = await send(index);
      total += stored;
    }
  };
  await Promise.all(Array.from({ length: Math.min(REQUESTS_OUTSTANDING, count) }, lane));
  return total;
}

async function ingestRest(
  baseUrl: string,
  source: string,
  bodies: string[],
  offset: number,
): Promise<number> {
  return pipelined(bodies.length, async (i) => {
    const res = await fetch(
      `${baseUrl}/v1/sources/${source}/records?idFrom=row&idOffset=${offset + i * BATCH}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: bodies[i] as string,
      },
    );
    if (res.status !== 200) throw new Error(`REST ingest: ${res.status} ${await res.text()}`);
    return ingestResultSchema.parse(await res.json()).stored;
  });
}

async function ingestNats(
  nc: NatsConnection,
  subject: string,
  bodies: string[],
  offset: number,
): Promise<number> {
  return pipelined(bodies.length, async (i) => {
    const headers = natsHeaders();
    headers.set(RecordHeader.idFrom, 'row');
    headers.set(RecordHeader.idOffset, String(offset + i * BATCH));
    const reply = await nc.request(subject, bodies[i] as string, { headers, timeout: 60_000 });
    const ack: IngestAck = ingestAckSchema.parse(decodeJson(reply.data));
    return ack.stored;
  });
}

async function timed(what: string, expected: number, run: () => Promise<number>): Promise<number> {
  const start = process.hrtime.bigint();
  const stored = await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (stored !== expected) throw new Error(`${what}: stored ${stored} of ${expected}`);
  const rate = expected / seconds;
  process.stdout.write(
    `  ${what.padEnd(6)} ${expected} records in ${seconds.toFixed(3)} s = ${Math.round(rate)} records/s\n`,
  );
  return rate;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const file = resolve('node_modules/vega-datasets/data/flights-20k.json');
  const flights = JSON.parse(readFileSync(file, 'utf8')) as Flight[];
  const root = uniqueRoot('bench_ingest');
  const subjects = new Subjects(root);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-bench-ingest-'));
  const natsUrl = process.env['NATS_URL'] ?? TEST_NATS_URL;
  const service = await ServiceProcess.start({
    app: 'ingest',
    env: {
      NATS_URL: natsUrl,
      SUBJECT_ROOT: root,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      INGEST_PUBLISH_IN_FLIGHT: String(IN_FLIGHT),
    },
  });
  const nc = await connectNats({ servers: natsUrl, name: 'bench-ingest' });
  try {
    for (const name of ['rest', 'nats', 'raw', 'rawq']) await declare(service.url, name);
    // Payloads are serialized before the clock starts, for every mode alike.
    const bodies = batches(flights, BATCH).map((batch) => JSON.stringify(batch));
    const rawPayloads = flights.map((flight) => JSON.stringify(flight));
    const js = jetStreamOf(nc);
    const n = flights.length;
    process.stdout.write(
      `ingest bench: ${n} flights, ${IN_FLIGHT} publishes in flight, batches of ${BATCH} ` +
        `with ${REQUESTS_OUTSTANDING} requests outstanding, ${ROUNDS} rounds\n`,
    );
    const rates = {
      rest: [] as number[],
      nats: [] as number[],
      raw: [] as number[],
      rawQuiet: [] as number[],
    };
    const modes = {
      raw: (offset: number) =>
        timed('raw', n, () =>
          publishRaw(js, subjects.raw('raw', 0), 'raw', rawPayloads, offset, false),
        ),
      rawQuiet: (offset: number) =>
        timed('raw-q', n, () =>
          publishRaw(js, subjects.raw('rawq', 0), 'rawq', rawPayloads, offset, true),
        ),
      rest: (offset: number) =>
        timed('rest', n, () => ingestRest(service.url, 'rest', bodies, offset)),
      nats: (offset: number) =>
        timed('nats', n, () => ingestNats(nc, subjects.ingest('nats'), bodies, offset)),
    };
    const order = ['raw', 'rest', 'nats', 'rawQuiet'] as const;
    // Round 0 warms both processes up and is not counted; the order rotates to spread the noise.
    for (let round = 0; round <= ROUNDS; round += 1) {
      process.stdout.write(round === 0 ? 'warm-up\n' : `round ${round}\n`);
      for (let k = 0; k < order.length; k += 1) {
        const mode = order[(round + k) % order.length] as (typeof order)[number];
        const rate = await modes[mode](round * n);
        if (round > 0) rates[mode].push(rate);
      }
    }
    const result = {
      rest_records_per_s: Math.round(median(rates.rest)),
      nats_records_per_s: Math.round(median(rates.nats)),
      raw_records_per_s: Math.round(median(rates.raw)),
    };
    process.stdout.write(
      `median: rest ${result.rest_records_per_s}/s (${(result.rest_records_per_s / result.raw_records_per_s).toFixed(2)} of raw), ` +
        `nats ${result.nats_records_per_s}/s (${(result.nats_records_per_s / result.raw_records_per_s).toFixed(2)} of raw), ` +
        `raw ${result.raw_records_per_s}/s\n`,
    );
    const quiet = median(rates.rawQuiet);
    process.stdout.write(
      `raw without the client's stack captures (as the service publishes): ${Math.round(quiet)}/s; ` +
        `against it: rest ${(result.rest_records_per_s / quiet).toFixed(2)}, nats ${(result.nats_records_per_s / quiet).toFixed(2)}\n`,
    );
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await service.stop();
    await deleteStreamsOfRoot(nc, root);
    await nc.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `ingest bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
