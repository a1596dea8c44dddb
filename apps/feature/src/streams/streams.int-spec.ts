import {
  ControlPattern,
  decodeExample,
  RawRecord,
  RecordHeader,
  SourceDeclarationInput,
  sourceDeclarationSchema,
  SourceDescription,
  StreamAggregatesReply,
  StreamGroupStatus,
  StreamKeys,
  StreamPipelineSpecInput,
  streamPipelineSpecSchema,
  StreamPipelineView,
  StreamSnapshot,
  Subjects,
} from '@dln/contracts';
import {
  aggregateAt,
  aggregateValue,
  initialStreamSnapshot,
  StreamCounters,
  StreamExample,
  StreamInput,
  StreamPipeline,
} from '@dln/features';
import {
  connectNats,
  decodeJson,
  encodeJson,
  jetStreamManagerOf,
  jetStreamOf,
  NatsConnection,
  natsHeaders,
  publishAll,
} from '@dln/messaging';
import {
  deleteStreamsOfRoot,
  ServiceProcess,
  TEST_NATS_URL,
  uniqueRoot,
  waitFor,
} from '@dln/testing';
import { Kvm } from '@nats-io/kv';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = uniqueRoot('streams');
const subjects = new Subjects(root);
const dataDir = mkdtempSync(join(tmpdir(), 'dln-streams-'));
const CHECKPOINT_MS = 5_000;

const eventsSource = (name: string): SourceDeclarationInput => ({
  name,
  idField: 'id',
  fields: [
    { name: 'id', type: 'string' },
    { name: 't', type: 'timestamp' },
    { name: 'user', type: 'string' },
    { name: 'amount', type: 'number' },
  ],
});
const labelsSource = (name: string): SourceDeclarationInput => ({
  name,
  idField: 'lid',
  fields: [
    { name: 'lid', type: 'string' },
    { name: 'event', type: 'string' },
    { name: 't', type: 'timestamp' },
    { name: 'clicked', type: 'boolean' },
  ],
});
const sources = [
  eventsSource('imp1'),
  labelsSource('lab1'),
  eventsSource('imp2'),
  labelsSource('lab2'),
  { ...eventsSource('imp3'), partitions: 2, partitionKey: 'id' },
  { ...labelsSource('lab3'), partitions: 2, partitionKey: 'event' },
  { ...eventsSource('imp4'), partitions: 2, partitionKey: 'id' },
  { ...labelsSource('lab4'), partitions: 2, partitionKey: 'event' },
].map((d) => sourceDeclarationSchema.parse(d));

const specOf = (name: string, source: string, labels: string): StreamPipelineSpecInput => ({
  mode: 'stream',
  name,
  source,
  eventTime: 't',
  latenessMs: 50,
  features: [{ kind: 'numeric', name: 'amount', field: 'amount', transform: 'none' }],
  aggregates: [
    { name: 'n100', key: 'user', window: { kind: 'tumbling', sizeMs: 100 }, aggregate: 'count' },
    {
      name: 's200',
      key: 'user',
      window: { kind: 'sliding', sizeMs: 200, slideMs: 100 },
      aggregate: 'sum',
      field: 'amount',
    },
    {
      name: 'm200',
      key: 'user',
      window: { kind: 'sliding', sizeMs: 200, slideMs: 100 },
      aggregate: 'mean',
      field: 'amount',
    },
  ],
  label: { kind: 'binary', field: 'clicked' },
  join: { source: labels, eventKey: 'id', labelKey: 'event', labelTime: 't', windowMs: 100 },
  snapshotEveryRecords: 1_000_000,
});

/** One raw record as published: which input, its id, its body, and the Nats-Msg-Id it carries. */
interface Arrival {
  input: StreamInput;
  id: string;
  record: RawRecord;
  msgId: string;
}
const ev = (id: string, t: number, user: string, amount: number, msgId = id): Arrival => ({
  input: 'event',
  id,
  record: { id, t, user, amount },
  msgId,
});
const lb = (id: string, event: string, t: number, clicked: boolean): Arrival => ({
  input: 'label',
  id,
  record: { lid: id, event, t, clicked },
  msgId: id,
});

let nc: NatsConnection;
let feature: ServiceProcess | undefined;

function answerSourceDescribe(): void {
  nc.subscribe(subjects.control(ControlPattern.sourceDescribe), {
    callback: (_err, msg) => {
      const { name } = decodeJson(msg.data) as { name: string };
      const declaration = sources.find((s) => s.name === name);
      if (!declaration) {
        msg.respond(
          encodeJson({ error: { code: 'NOT_FOUND', message: `source ${name}`, retryable: false } }),
        );
        return;
      }
      const description: SourceDescription = {
        declaration,
        idField: declaration.idField ?? '_id',
        stream: subjects.rawStream(name),
        subjects: {
          ingest: subjects.ingest(name),
          raw: subjects.rawAll(name),
          deadLetter: subjects.deadLetter(name),
        },
        stored: { records: 0, bytes: 0 },
        createdAt: new Date().toISOString(),
        updatedAt: new Date().toISOString(),
      };
      msg.respond(encodeJson(description));
    },
  });
}

/** Stores records the way ingest does: one JSON message each (on `partition`), with the id headers. */
async function store(
  events: string,
  labels: string,
  arrivals: Arrival[],
  partition: (a: Arrival) => number = () => 0,
): Promise<void> {
  await publishAll(
    jetStreamOf(nc),
    arrivals.map((a) => {
      const source = a.input === 'event' ? events : labels;
      const headers = natsHeaders();
      headers.set(RecordHeader.recordId, a.id);
      return {
        subject: subjects.raw(source, partition(a)),
        data: encodeJson(a.record),
        msgID: `${source}:${a.msgId}`,
        headers,
      };
    }),
  );
}

async function startFeature(group = 0, groups = 1): Promise<ServiceProcess> {
  return ServiceProcess.start({
    app: 'feature',
    env: {
      STREAM_GROUP_INDEX: String(group),
      STREAM_GROUP_COUNT: String(groups),
      NATS_URL: TEST_NATS_URL,
      SUBJECT_ROOT: root,
      DATA_DIR: dataDir,
      STREAM_CHECKPOINT_MS: String(CHECKPOINT_MS),
      STREAM_RECONCILE_MS: '500',
      LOG_LEVEL: 'warn',
    },
  });
}

async function http<T>(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  service = feature,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${service?.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

const liveCounts = async (pipeline: string): Promise<StreamCounters | undefined> =>
  (await http<StreamPipelineView>('GET', `/v1/pipelines/${pipeline}/stream`)).body.groups[0]
    ?.counts;

async function storedStatus(pipeline: string): Promise<StreamGroupStatus | undefined> {
  const kv = await new Kvm(nc).open(subjects.bucket('features'));
  const entry = await kv.get(StreamKeys.status(pipeline, 0, 1));
  return entry?.operation === 'PUT' ? (entry.json() as StreamGroupStatus) : undefined;
}

/** Every example of a stream pipeline: msg id -> bytes; fails on a msg id seen twice. */
async function readExamples(pipeline: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const stream = subjects.streamExamplesStream(pipeline);
  const info = await (await jetStreamManagerOf(nc)).streams.info(stream);
  if (info.state.messages === 0) return out;
  const consumer = await jetStreamOf(nc).consumers.get(stream, {});
  const messages = await consumer.fetch({ max_messages: 10_000, expires: 5_000 });
  for await (const msg of messages) {
    const id = msg.headers?.get('Nats-Msg-Id') ?? '';
    expect(out.has(id), `example ${id} stored twice`).toBe(false);
    out.set(id, msg.data);
    if (msg.info.pending === 0) break;
  }
  return out;
}

async function exampleCount(pipeline: string): Promise<number> {
  return (
    await (await jetStreamManagerOf(nc)).streams.info(subjects.streamExamplesStream(pipeline))
  ).state.messages;
}

/** The pure pipeline over the same arrivals (per input, in publication order). */
function reference(
  spec: StreamPipelineSpecInput,
  arrivals: Arrival[],
): { pipeline: StreamPipeline; examples: StreamExample[] } {
  const parsed = streamPipelineSpecSchema.parse(spec);
  const pipeline = new StreamPipeline(parsed, initialStreamSnapshot(parsed, 'now'));
  const examples: StreamExample[] = [];
  for (const a of arrivals) {
    pipeline.offer(a.input, a.id, a.record);
    examples.push(...pipeline.drain());
  }
  return { pipeline, examples };
}

beforeAll(async () => {
  execFileSync(process.execPath, ['tools/build.mjs'], { stdio: 'ignore' });
  nc = await connectNats({ servers: TEST_NATS_URL, name: 'streams-test' });
  answerSourceDescribe();
  const jsm = await jetStreamManagerOf(nc);
  for (const source of sources) {
    await jsm.streams.add({
      name: subjects.rawStream(source.name),
      subjects: [subjects.rawAll(source.name)],
    });
  }
  feature = await startFeature();
}, 120_000);

const others: ServiceProcess[] = [];

afterAll(async () => {
  await feature?.stop('SIGKILL');
  for (const other of others) await other.stop('SIGKILL');
  if (nc) {
    await deleteStreamsOfRoot(nc, root);
    await nc.close();
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('stream pipeline on the feature service', () => {
  /** The hand-computed scenario of stream-pipeline.spec.ts, through real streams. */
  const events = [
    ev('e1', 10, 'u', 1),
    ev('e2', 30, 'u', 2),
    ev('e3', 20, 'u', 4),
    ev('e2', 30, 'u', 2, 'e2-resent'), // same record id, resent after the raw stream's de-dup window
    ev('e4', 120, 'u', 8),
    ev('e5', 15, 'u', 100),
    ev('e6', 120, 'v', 3),
    ev('e7', 120, 'u', 16),
    ev('e8', 250, 'u', 32),
    ev('e9', 400, 'u', 64),
    ev('e10', 600, 'u', 1),
  ];
  const labels = [
    lb('l1', 'e1', 60, true),
    lb('l1b', 'e1', 70, false),
    lb('l3', 'e3', 130, true),
    lb('l7', 'e7', 125, true),
    lb('l4', 'e4', 150, false),
    lb('lx', 'e999', 200, true),
    lb('l9', 'e9', 420, true),
    lb('l10', 'e10', 610, true),
  ];
  const expected: Record<string, number[]> = {
    e1: [1, 0, 0, 0, 1],
    e3: [4, 1, 1, 1, 0],
    e2: [2, 2, 5, 2.5, 0],
    e4: [8, 0, 7, 7 / 3, 0],
    e6: [3, 0, 0, 0, 0],
    e7: [16, 0, 7, 7 / 3, 1],
    e8: [32, 0, 24, 12, 0],
    e9: [64, 0, 0, 0, 1],
  };

  it('declares, validates, starts, and emits the hand-computed examples', async () => {
    const bad = await http<{ error: { issues: { path: string }[] } }>('POST', '/v1/pipelines', {
      ...specOf('hand', 'imp1', 'lab1'),
      eventTime: 'user',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i) => i.path)).toEqual(['eventTime']);
    const created = await http<StreamPipelineView>(
      'POST',
      '/v1/pipelines',
      specOf('hand', 'imp1', 'lab1'),
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      running: false,
      examples: { stream: subjects.streamExamplesStream('hand') },
    });
    await store('imp1', 'lab1', events);
    await store('imp1', 'lab1', labels);
    expect((await http<StreamPipelineView>('POST', '/v1/pipelines/hand/stream/start')).status).toBe(
      200,
    );
    await waitFor('8 examples', async () => (await exampleCount('hand')) >= 8, 60_000);
    const examples = await readExamples('hand');
    expect([...examples.keys()].sort()).toEqual(
      Object.keys(expected)
        .map((id) => `hand:${id}`)
        .sort(),
    );
    for (const [id, values] of Object.entries(expected)) {
      const decoded = decodeExample(examples.get(`hand:${id}`) as Uint8Array);
      const got = [...Array.from(decoded.dense), decoded.label];
      values.forEach((v, i) => expect(got[i], `${id}[${i}]`).toBeCloseTo(v, 5));
    }
    expect(await liveCounts('hand')).toEqual({
      events: 9,
      labels: 8,
      late: 1,
      duplicates: 1,
      rejected: 0,
      examples: 8,
      positives: 3,
      negatives: 5,
      unmatchedLabels: 2,
      duplicateLabels: 1,
    });
    // Serving read after a checkpoint, u at 610: tumbling [600, 610) and sliding [500, 610) both
    // hold only e10 (600, still pending: the watermark is 550), amount 1.
    await waitFor(
      'a checkpoint',
      async () => ((await storedStatus('hand'))?.counts.examples ?? 0) >= 8,
      30_000,
    );
    const reply = decodeJson(
      (
        await nc.request(
          subjects.control(ControlPattern.streamAggregates),
          encodeJson({ pipeline: 'hand', at: 610, record: { user: 'u' } }),
          { timeout: 10_000 },
        )
      ).data,
    ) as StreamAggregatesReply;
    expect(reply).toEqual({
      pipeline: 'hand',
      at: 610,
      exact: true,
      values: [
        { name: 'n100', value: 1, count: 1 },
        { name: 's200', value: 1, count: 1 },
        { name: 'm200', value: 1, count: 1 },
      ],
    });
    const snapshot = decodeJson(
      (
        await nc.request(
          subjects.control(ControlPattern.streamSnapshot),
          encodeJson({ pipeline: 'hand' }),
          { timeout: 10_000 },
        )
      ).data,
    ) as StreamSnapshot;
    expect(snapshot).toMatchObject({
      pipeline: 'hand',
      version: 1,
      outputSchema: { denseWidth: 4 },
    });
    expect(snapshot.outputSchema.dense.map((d) => d.name)).toEqual([
      'amount',
      'n100',
      's200',
      'm200',
    ]);
  }, 120_000);

  it('loses no record and stores no example twice when killed mid-stream and restarted', async () => {
    // 400 events 10 ms apart, every 7th 25 ms out of order, every 50th resent, every 60th late;
    // a label 30 ms after every 3rd event, a second one for every 9th, a too-late one for every 11th.
    const arrivals: [number, Arrival][] = [];
    for (let i = 0; i < 400; i += 1) {
      const t = 1_000 + 10 * i - (i % 7 === 3 ? 25 : 0);
      const e = ev(`e${i}`, t, `u${i % 5}`, i % 13);
      arrivals.push([10 * i, e]);
      if (i % 50 === 0) arrivals.push([10 * i + 1, { ...e, msgId: `e${i}-resent` }]);
      if (i % 60 === 59) arrivals.push([10 * i + 2, ev(`late${i}`, t - 500, 'u0', 1)]);
      if (i % 3 === 0) arrivals.push([10 * i + 30, lb(`l${i}`, `e${i}`, t + 30, i % 2 === 0)]);
      if (i % 9 === 0) arrivals.push([10 * i + 40, lb(`l${i}b`, `e${i}`, t + 40, false)]);
      if (i % 11 === 0) arrivals.push([10 * i + 150, lb(`l${i}c`, `e${i}`, t + 150, true)]);
    }
    const ordered = arrivals.sort((a, b) => a[0] - b[0]).map(([, a]) => a);
    const batches = [ordered.slice(0, 250), ordered.slice(250, 420), ordered.slice(420)];
    const spec = specOf('crash', 'imp2', 'lab2');
    const after1 = reference(spec, batches[0] as Arrival[]).pipeline.counters;
    const after2 = reference(spec, [...(batches[0] as Arrival[]), ...(batches[1] as Arrival[])])
      .pipeline.counters;
    const full = reference(spec, ordered);

    expect((await http('POST', '/v1/pipelines', spec)).status).toBe(201);
    expect((await http('POST', '/v1/pipelines/crash/stream/start')).status).toBe(200);
    await store('imp2', 'lab2', batches[0] as Arrival[]);
    // Right after a checkpoint that covers batch 1, batch 2 goes in and the service is killed
    // before its next checkpoint (CHECKPOINT_MS later).
    await waitFor(
      'a checkpoint of batch 1',
      async () => (await storedStatus('crash'))?.counts.events === after1.events,
      60_000,
    );
    await store('imp2', 'lab2', batches[1] as Arrival[]);
    await waitFor(
      'batch 2 applied',
      async () => (await liveCounts('crash'))?.events === after2.events,
      30_000,
    );
    await feature?.stop('SIGKILL');
    const checkpointed = await storedStatus('crash');
    expect(checkpointed?.counts.events).toBe(after1.events); // batch 2 was not checkpointed
    // Examples of batch 2 were stored before the kill: the replay emits them again (de-duplicated).
    expect(await exampleCount('crash')).toBeGreaterThan(checkpointed?.counts.examples ?? 0);

    feature = await startFeature(); // resumes the running pipeline from its checkpoint
    await store('imp2', 'lab2', batches[2] as Arrival[]);
    await waitFor(
      'every example',
      async () => (await exampleCount('crash')) >= full.examples.length,
      60_000,
    );
    await waitFor(
      'the final counters',
      async () => {
        const counts = await liveCounts('crash');
        return counts?.examples === full.pipeline.counters.examples ? counts : undefined;
      },
      30_000,
    );
    expect(await liveCounts('crash')).toEqual(full.pipeline.counters);
    const stored = await readExamples('crash');
    expect(stored.size).toBe(full.examples.length);
    for (const example of full.examples) {
      expect(Array.from(stored.get(`crash:${example.eventId}`) ?? []), example.eventId).toEqual(
        Array.from(example.bytes),
      );
    }
    // Serving state continues from the restored aggregates too.
    await waitFor(
      'a checkpoint after restart',
      async () => (await storedStatus('crash'))?.counts.examples === full.examples.length,
      30_000,
    );
    const parsed = streamPipelineSpecSchema.parse(spec);
    const states = full.pipeline.servingStates();
    for (const user of ['u0', 'u3']) {
      const at = (full.pipeline.watermark ?? 0) + 5;
      const reply = decodeJson(
        (
          await nc.request(
            subjects.control(ControlPattern.streamAggregates),
            encodeJson({ pipeline: 'crash', at, record: { user } }),
            { timeout: 10_000 },
          )
        ).data,
      ) as StreamAggregatesReply;
      const want = parsed.aggregates.map((a) => {
        const state = states.find((s) => s.feature === a.name && s.key === user)?.state;
        const totals = state ? aggregateAt(state, a.window, at) : { count: 0, sum: 0 };
        return { name: a.name, value: aggregateValue(a, totals), count: totals.count };
      });
      expect(reply.values, user).toEqual(want);
    }
  }, 240_000);
  it('splits a pipeline between two instances by partition; each key meets its labels', async () => {
    for (const name of ['hand', 'crash']) await http('POST', `/v1/pipelines/${name}/stream/stop`);
    await feature?.stop('SIGTERM');
    const spec: StreamPipelineSpecInput = {
      ...specOf('split', 'imp3', 'lab3'),
      aggregates: [
        {
          name: 'seen',
          key: 'id',
          window: { kind: 'tumbling', sizeMs: 1_000 },
          aggregate: 'count',
        },
      ],
      features: [
        { kind: 'numeric', name: 'amount', field: 'amount', transform: 'none' },
        {
          kind: 'categorical',
          name: 'user',
          field: 'user',
          vocabulary: { kind: 'learned', maxSize: 8 },
          encoding: 'id',
        },
      ],
    };
    const arrivals: Arrival[] = [];
    for (let i = 0; i < 120; i += 1) {
      arrivals.push(ev(`s${i}`, 1_000 + 10 * i, `u${i % 3}`, i));
      if (i % 4 !== 1) arrivals.push(lb(`m${i}`, `s${i}`, 1_000 + 10 * i + 20, i % 4 === 0));
    }
    // One far-future event and label per partition: every real event is released and decided.
    for (const p of [0, 1])
      arrivals.push(ev(`end${p}`, 100_000, 'u0', 0), lb(`endl${p}`, `end${p}`, 100_000, true));
    const partition = (a: Arrival): number => {
      const key = String(a.input === 'event' ? a.record['id'] : a.record['event']);
      return key.startsWith('end') ? Number(key.slice(3)) : Number(key.slice(1)) % 2;
    };
    const pair = await Promise.all([startFeature(0, 2), startFeature(1, 2)]);
    others.push(...pair);
    feature = pair[0];
    const declared = await http('POST', '/v1/pipelines', spec);
    expect(declared, JSON.stringify(declared.body)).toMatchObject({ status: 201 });
    expect((await http('POST', '/v1/pipelines/split/stream/start')).status).toBe(200);
    await store('imp3', 'lab3', arrivals, partition);
    const expectedLabels = new Map(
      arrivals
        .filter((a) => a.input === 'event' && !a.id.startsWith('end'))
        .map((a) => {
          const i = Number(a.id.slice(1));
          return [`split:${a.id}`, i % 4 === 0 ? 1 : 0];
        }),
    );
    await waitFor(
      '120 examples',
      async () => (await exampleCount('split')) >= expectedLabels.size,
      60_000,
    );
    const examples = await readExamples('split');
    expect(examples.size).toBe(expectedLabels.size);
    for (const [id, label] of expectedLabels) {
      const decoded = decodeExample(examples.get(id) as Uint8Array);
      expect(decoded.label, id).toBe(label);
      expect(decoded.dense[1], `${id} sees no earlier event of its id`).toBe(0);
    }
    const views = await Promise.all(
      pair.map((p) => http<StreamPipelineView>('GET', '/v1/pipelines/split/stream', undefined, p)),
    );
    const live = views.map((v) =>
      v.body.groups.find((g) => g.groups === 2 && g.group === views.indexOf(v)),
    );
    expect(live.map((g) => g?.partitions)).toEqual([[0], [1]]);
    expect(live.map((g) => g?.counts.examples)).toEqual([60, 60]);
    expect(live.map((g) => g?.snapshotVersion)).toEqual([1, 1]); // group 0 published it, group 1 follows
  }, 180_000);

  it('stops waiting for a silent label stream after the idle timeout (events on 2 partitions)', async () => {
    await http('POST', '/v1/pipelines/split/stream/stop');
    for (const other of others) await other.stop('SIGTERM');
    feature = await startFeature();
    const spec: StreamPipelineSpecInput = {
      ...specOf('quiet', 'imp4', 'lab4'),
      aggregates: [],
      idleTimeoutMs: 1_500,
    };
    expect((await http('POST', '/v1/pipelines', spec)).status).toBe(201);
    expect((await http('POST', '/v1/pipelines/quiet/stream/start')).status).toBe(200);
    // No label ever comes. Partition 0 is at 300 - 50, partition 1 at 400 - 50: once the labels
    // are idle the watermark is at least 250, a and c are released and their windows closed.
    const arrivals = [
      ev('a', 10, 'u', 1),
      ev('b', 300, 'u', 2),
      ev('c', 20, 'u', 3),
      ev('d', 400, 'u', 4),
    ];
    await store('imp4', 'lab4', arrivals, (a) => (a.id === 'a' || a.id === 'b' ? 0 : 1));
    await waitFor('2 examples', async () => (await exampleCount('quiet')) >= 2, 60_000);
    const examples = await readExamples('quiet');
    expect([...examples.keys()].sort()).toEqual(['quiet:a', 'quiet:c']);
    for (const bytes of examples.values()) expect(decodeExample(bytes).label).toBe(0);
    const view = await http<StreamPipelineView>('GET', '/v1/pipelines/quiet/stream');
    expect(view.body.groups[0]).toMatchObject({
      partitions: [0, 1],
      counts: { events: 4, labels: 0, late: 0, examples: 2, negatives: 2 },
    });
    // Once the events are idle too, the partition whose record came last decides (250 or 350).
    expect([250, 350]).toContain(view.body.groups[0]?.watermark);
  }, 120_000);
});
