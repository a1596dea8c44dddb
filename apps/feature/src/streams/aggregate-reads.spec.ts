import { KeyAggregateState, streamPipelineSpecSchema, ValidationError } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { readAggregatesBatch } from './aggregate-reads';

const spec = streamPipelineSpecSchema.parse({
  mode: 'stream',
  name: 'clicks',
  source: 'impressions',
  eventTime: 't',
  latenessMs: 0,
  features: [{ kind: 'numeric', name: 'amount', field: 'amount', transform: 'none' }],
  aggregates: [
    { name: 'n100', key: 'user', window: { kind: 'tumbling', sizeMs: 100 }, aggregate: 'count' },
    {
      name: 'm200',
      key: 'user',
      window: { kind: 'sliding', sizeMs: 200, slideMs: 100 },
      aggregate: 'mean',
      field: 'amount',
    },
  ],
  label: { kind: 'binary', field: 'clicked' },
});

// u: released 10 (1), 120 (8); pending 150 (16). Watermark 140.
const state: KeyAggregateState = {
  watermark: 140,
  buckets: [
    [0, 1, 1],
    [100, 1, 8],
  ],
  pending: [[150, 16]],
};

describe('readAggregatesBatch', () => {
  it('answers every item at its own time, reading each key state once (hand-computed)', async () => {
    const reads: string[] = [];
    const reply = await readAggregatesBatch(
      spec,
      {
        pipeline: 'clicks',
        items: [
          { at: 160, record: { user: 'u' } },
          { at: 250, record: { user: 'u' } },
          { at: 160, record: { user: 'nobody' } },
        ],
      },
      async (feature, key) => {
        reads.push(`${feature}/${key}`);
        return key === 'u' ? state : undefined;
      },
    );
    expect(reads.sort()).toEqual(['m200/nobody', 'm200/u', 'n100/nobody', 'n100/u']);
    expect(reply).toEqual({
      pipeline: 'clicks',
      eventTime: 't',
      aggregates: ['n100', 'm200'],
      items: [
        // [100,200) before 160: 120, 150; sliding [0,200): 1 + 8 + 16
        { values: [2, 25 / 3], exact: true },
        // [200,300): none; sliding [100,300): 8 + 16
        { values: [0, 12], exact: true },
        { values: [0, 0], exact: true },
      ],
    });
  });

  it('an empty batch names the event-time field and the aggregates; a missing key is a 400 naming the item', async () => {
    const none = async () => undefined;
    const empty = await readAggregatesBatch(spec, { pipeline: 'clicks', items: [] }, none);
    expect(empty).toEqual({
      pipeline: 'clicks',
      eventTime: 't',
      aggregates: ['n100', 'm200'],
      items: [],
    });
    const missing = readAggregatesBatch(
      spec,
      {
        pipeline: 'clicks',
        items: [
          { at: 1, record: { user: 'u' } },
          { at: 1, record: { user: null } },
        ],
      },
      none,
    );
    await expect(missing).rejects.toThrow(ValidationError);
    await expect(missing).rejects.toThrow('items[1].record.user: missing (key of n100)');
  });
});
