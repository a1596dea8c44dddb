import { decodeExample, StreamPipelineSpecInput, streamPipelineSpecSchema } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { StreamInput } from './event-time-buffer';
import { initialStreamSnapshot, StreamExample, StreamPipeline } from './stream-pipeline';

const specInput: StreamPipelineSpecInput = {
  mode: 'stream',
  name: 'clicks',
  source: 'impressions',
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
  join: { source: 'clicks-log', eventKey: 'id', labelKey: 'event', labelTime: 't', windowMs: 100 },
};
const spec = streamPipelineSpecSchema.parse(specInput);

type Arrival = [StreamInput, string, Record<string, unknown>];
const e = (id: string, t: number, user: string, amount: number): Arrival => [
  'event',
  id,
  { id, t, user, amount },
];
const l = (id: string, event: string, t: number, clicked: boolean): Arrival => [
  'label',
  id,
  { event, t, clicked },
];

/** Events in their arrival order: e3 out of order, a duplicate of e2, e5 late. */
const events: Arrival[] = [
  e('e1', 10, 'u', 1),
  e('e2', 30, 'u', 2),
  e('e3', 20, 'u', 4), // out of order: the event watermark is 30 - 50
  e('e2', 30, 'u', 2), // duplicate
  e('e4', 120, 'u', 8), // watermark 70
  e('e5', 15, 'u', 100), // late: 15 < 70
  e('e6', 120, 'v', 3),
  e('e7', 120, 'u', 16), // same instant and key as e4: neither counts the other
  e('e8', 250, 'u', 32),
  e('e9', 400, 'u', 64),
  e('e10', 600, 'u', 1),
];
const labels: Arrival[] = [
  l('l1', 'e1', 60, true), // joins e1 (10 <= 60 < 110)
  l('l1b', 'e1', 70, false), // a second label for e1: duplicate
  l('l3', 'e3', 130, true), // 130 >= 20 + 100: too late for e3, unmatched
  l('l7', 'e7', 125, true),
  l('l4', 'e4', 150, false), // joins e4 with label 0
  l('lx', 'e999', 200, true), // no such event
  l('l9', 'e9', 420, true),
  l('l10', 'e10', 610, true),
];

/** Hand-computed: [amount, count in [step), sum and mean over the 2-step sliding window, label]. */
const expected: Record<string, number[]> = {
  e1: [1, 0, 0, 0, 1],
  e3: [4, 1, 1, 1, 0], // before 20 in [0,100): e1; sliding [-100,100): e1; timed out
  e2: [2, 2, 5, 2.5, 0], // before 30: e1, e3 (1 + 4); timed out
  e4: [8, 0, 7, 7 / 3, 0], // [100,200): none before 120; sliding [0,200): 1 + 4 + 2; label 0
  e6: [3, 0, 0, 0, 0], // key v: nothing; timed out
  e7: [16, 0, 7, 7 / 3, 1],
  e8: [32, 0, 24, 12, 0], // sliding [100,300): e4 + e7; timed out at watermark 350
  e9: [64, 0, 0, 0, 1], // sliding [300,500): nothing (e8 is at 250)
};

function run(pipeline: StreamPipeline, arrivals: Arrival[]): StreamExample[] {
  const out: StreamExample[] = [];
  for (const [input, id, record] of arrivals) {
    pipeline.offer(input, id, record);
    out.push(...pipeline.drain());
  }
  return out;
}

function interleave(a: Arrival[], b: Arrival[], pattern: number[]): Arrival[] {
  const out: Arrival[] = [];
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length || j < b.length) {
    const fromA = (pattern[k++ % pattern.length] as number) > 0;
    if ((fromA && i < a.length) || j >= b.length) out.push(a[i++] as Arrival);
    else out.push(b[j++] as Arrival);
  }
  return out;
}

const table = (examples: StreamExample[]) =>
  Object.fromEntries(
    examples.map((x) => {
      const decoded = decodeExample(x.bytes);
      return [x.eventId, [...Array.from(decoded.dense), decoded.label]];
    }),
  );

describe('StreamPipeline', () => {
  const fresh = () => new StreamPipeline(spec, initialStreamSnapshot(spec, '2024-01-01T00:00:00Z'));

  it('gives the hand-computed aggregates and joined labels, with late, duplicate and out-of-order input', () => {
    const pipeline = fresh();
    const examples = run(pipeline, interleave(events, labels, [1, 1, 0]));
    expect(examples.map((x) => x.eventId).sort()).toEqual(Object.keys(expected).sort());
    const got = table(examples);
    for (const [id, values] of Object.entries(expected)) {
      values.forEach((v, i) => expect(got[id]?.[i], `${id}[${i}]`).toBeCloseTo(v, 6));
    }
    expect(pipeline.counters).toEqual({
      events: 9, // e1-e4, e6-e10
      labels: 8,
      late: 1,
      duplicates: 1,
      rejected: 0,
      examples: 8,
      positives: 3, // e1, e7, e9
      negatives: 5, // e2, e3, e6, e8 timed out; e4 labeled 0
      unmatchedLabels: 2, // l3, lx
      duplicateLabels: 1, // l1b
    });
    expect(pipeline.watermark).toBe(550); // min(600 - 50, 610 - 50)
    expect(pipeline.buffered).toBe(2); // e10 and l10 wait for the watermark
    expect(examples.every((x) => x.snapshotVersion === 1)).toBe(true);
  });

  it('does not depend on how the two inputs interleave', () => {
    const reference = table(run(fresh(), interleave(events, labels, [1, 1, 0])));
    for (const pattern of [[0], [1], [1, 0], [1, 1, 1, 0, 0], [0, 0, 0, 1]]) {
      expect(table(run(fresh(), interleave(events, labels, pattern))), String(pattern)).toEqual(
        reference,
      );
    }
  });

  it('continues exactly from a state restored through JSON at any point', () => {
    const arrivals = interleave(events, labels, [1, 0]);
    const reference = run(fresh(), arrivals);
    for (const cut of [1, 5, 9, 14]) {
      const first = fresh();
      const before = run(first, arrivals.slice(0, cut));
      const state = JSON.parse(JSON.stringify(first.state())) as ReturnType<
        StreamPipeline['state']
      >;
      const second = new StreamPipeline(
        spec,
        initialStreamSnapshot(spec, '2024-01-01T00:00:00Z'),
        state,
      );
      const after = run(second, arrivals.slice(cut));
      expect(table([...before, ...after]), `cut ${cut}`).toEqual(table(reference));
      expect(second.counters).toEqual(runCounters(arrivals));
    }
  });

  it('publishes per-key serving states that answer like the stream did', () => {
    const pipeline = fresh();
    run(pipeline, interleave(events, labels, [1, 1, 0]));
    const states = pipeline.servingStates();
    const u = states.find((s) => s.feature === 's200' && s.key === 'u');
    // released buckets of u after pruning at 550: [400, 1, 64] (sliding window of 550 is [400, 600)),
    // pending: e10 at 600
    expect(u?.state).toEqual({ watermark: 550, buckets: [[400, 1, 64]], pending: [[600, 1]] });
    expect(pipeline.servingStates()).toEqual([]); // nothing changed since
  });

  it('grows the vocabulary between snapshot versions; ids stay; the encoder switches at useSnapshot', () => {
    const vocabSpec = streamPipelineSpecSchema.parse({
      ...specInput,
      join: undefined,
      label: { kind: 'binary', field: 'clicked' },
      aggregates: [],
      latenessMs: 0,
      features: [
        {
          kind: 'categorical',
          name: 'user',
          field: 'user',
          vocabulary: { kind: 'learned', maxSize: 2 },
          encoding: 'id',
        },
        { kind: 'numeric', name: 'amount', field: 'amount', transform: 'standardize' },
      ],
    });
    const pipeline = new StreamPipeline(vocabSpec, initialStreamSnapshot(vocabSpec, 'now'));
    const rec = (id: string, t: number, user: string, amount: number) =>
      pipeline.offer('event', id, { t, user, amount, clicked: true });
    rec('a', 1, 'x', 2);
    rec('b', 2, 'y', 4);
    rec('c', 3, 'z', 6);
    const v1 = pipeline.drain(); // a, b released (below 3); encoded with version 1: all OOV, mean 0
    expect(
      v1.map((x) => [x.eventId, decodeExample(x.bytes).ids[0], decodeExample(x.bytes).dense[0]]),
    ).toEqual([
      ['a', 0, 2],
      ['b', 0, 4],
    ]);
    const v2 = pipeline.buildSnapshot(2, 'later');
    expect(v2.base.features[0]?.vocabulary).toEqual(['x', 'y']);
    expect(v2.base.features[1]).toMatchObject({ count: 2, mean: 3, std: 1 });
    expect(v2.outputSchema.ids).toEqual([{ name: 'user', cardinality: 3 }]); // maxSize + 1, fixed
    pipeline.useSnapshot(v2);
    rec('d', 4, 'x', 5);
    rec('e', 5, 'w', 0);
    const after = pipeline.drain(); // c and d: z is past the cap (OOV), x keeps id 1
    expect(
      after.map((x) => [
        x.eventId,
        decodeExample(x.bytes).ids[0],
        decodeExample(x.bytes).dense[0],
        x.snapshotVersion,
      ]),
    ).toEqual([
      ['c', 0, 3, 2], // (6 - 3) / 1
      ['d', 1, 2, 2],
    ]);
    expect(pipeline.buildSnapshot(3, 'later').base.features[0]?.vocabulary).toEqual(['x', 'y']);
  });

  it('rejects records without a time, key or label value, naming the field', () => {
    const pipeline = fresh();
    expect(pipeline.offer('event', 'x', { id: 'x', user: 'u', amount: 1 })).toBe('rejected');
    expect(pipeline.lastRejection).toMatch(/"t"/);
    expect(pipeline.offer('event', 'y', { id: 'y', t: 1, amount: 1 })).toBe('rejected');
    expect(pipeline.lastRejection).toMatch(/"user"/);
    expect(pipeline.offer('label', 'z', { event: 'y', t: 1 })).toBe('rejected');
    expect(pipeline.counters.rejected).toBe(3);
  });
});

function runCounters(arrivals: Arrival[]) {
  const pipeline = new StreamPipeline(spec, initialStreamSnapshot(spec, '2024-01-01T00:00:00Z'));
  run(pipeline, arrivals);
  return pipeline.counters;
}
