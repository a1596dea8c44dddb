import * as tf from '@tensorflow/tfjs';
import { PipelineEncoder } from '@dln/features';
import { beforeAll, describe, expect, it } from 'vitest';
import { artifactFor, LabelKind, records } from './fixtures/models';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { LoadedModel } from './loaded-model';
import { RawDelivery, RecordScorer } from './record-scoring';
import { ModelRegistry, VersionState } from './registry';
import { ServedVersion } from './served-version';

const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

function served(kind: LabelKind, version: number): ServedVersion {
  return new ServedVersion(
    new LoadedModel('m', version, artifactFor(kind, version), DEFAULT_SERVING_LIMITS),
    DEFAULT_SERVING_LIMITS,
  );
}

/** The model run straight on the features encoder's examples: what a scorer must publish. */
function expected(version: ServedVersion, list: Record<string, unknown>[]): Float32Array {
  const encoder = new PipelineEncoder(version.model.artifact.snapshot);
  const { denseWidth, ids } = encoder.outputSchema;
  const dense = new Float32Array(list.length * denseWidth);
  const idValues = new Int32Array(list.length * ids.length);
  list.forEach((record, i) => {
    const example = encoder.encode(record, 'optional');
    dense.set(example.dense, i * denseWidth);
    idValues.set(example.ids, i * ids.length);
  });
  return version.model.run({ size: list.length, dense, ids: idValues });
}

const deliveries = (list: Record<string, unknown>[]): RawDelivery[] =>
  list.map((record, i) => ({
    recordId: String(record['rid']),
    body: bytes(record),
    storedAt: 1_000 + i,
  }));

describe('RecordScorer', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('scores stored records in one batch with the served default, one message per record in order', async () => {
    const registry = new ModelRegistry();
    const v1 = served('binary', 1);
    registry.available('m', v1);
    const list = records(20, 5);
    const scorer = new RecordScorer(registry, 'trips', 'm', () => 42);
    const result = await scorer.score(deliveries(list));
    const want = expected(v1, list);
    expect(result.version).toBe(1);
    expect(result.unscorable).toBe(0);
    expect(v1.batcher.stats).toEqual({ calls: 1, rows: 20 });
    result.messages.forEach((message, i) => {
      expect(message).toMatchObject({
        id: `r${i}`,
        source: 'trips',
        model: 'm',
        version: 1,
        timestamp: 42,
        ingestedAt: 1_000 + i,
      });
      expect(message.score).toBeCloseTo(want[i]!, 6);
      expect(message.scores).toBeUndefined();
    });
  });

  it('gives class models per-class scores in output order', async () => {
    const registry = new ModelRegistry();
    const v2 = served('class', 2);
    registry.available('m', v2);
    const list = records(4, 9);
    const result = await new RecordScorer(registry, 'trips', 'm').score(deliveries(list));
    const want = expected(v2, list);
    const units = v2.model.units;
    expect(units).toBe(3);
    result.messages.forEach((message, i) => {
      expect(message.score).toBeUndefined();
      expect(message.scores).toHaveLength(units);
      message.scores!.forEach((s, u) => expect(s).toBeCloseTo(want[i * units + u]!, 6));
    });
  });

  it('answers an unencodable record with its reason and still scores the others', async () => {
    const registry = new ModelRegistry();
    registry.available('m', served('binary', 1));
    const list = records(3, 2);
    const missingX = { ...list[1], x: null };
    const batch: RawDelivery[] = [
      ...deliveries([list[0]!, missingX]),
      { recordId: 'junk', body: new TextEncoder().encode('{"rid": '), storedAt: 7 },
      { recordId: 'array', body: bytes([1, 2]), storedAt: 8 },
      ...deliveries([list[2]!]),
    ];
    const result = await new RecordScorer(registry, 'trips', 'm').score(batch);
    expect(result.unscorable).toBe(3);
    expect(result.messages.map((m) => m.id)).toEqual(['r0', 'r1', 'junk', 'array', 'r2']);
    expect(result.messages[0]!.score).toEqual(expect.any(Number));
    expect(result.messages[1]).toMatchObject({ error: expect.stringMatching(/^x: /) });
    expect(result.messages[1]!.score).toBeUndefined();
    expect(result.messages[2]!.error).toMatch(/not JSON/);
    expect(result.messages[3]!.error).toBe('the stored record is not a JSON object');
    expect(result.messages[4]!.score).toEqual(expect.any(Number));
  });

  it('refuses while no version is served, and whenServing resolves once one is', async () => {
    const registry = new ModelRegistry();
    const scorer = new RecordScorer(registry, 'trips', 'm');
    await expect(scorer.score(deliveries(records(1)))).rejects.toMatchObject({ httpStatus: 404 });
    registry.mark('m', 3, VersionState.Loading);
    await expect(scorer.score(deliveries(records(1)))).rejects.toMatchObject({ httpStatus: 503 });
    let woke = false;
    const waiting = registry.whenServing('m').then(() => (woke = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(woke).toBe(false);
    registry.available('m', served('binary', 3));
    await waiting;
    expect((await scorer.score(deliveries(records(2)))).version).toBe(3);
    const aborted = new AbortController();
    const never = registry.whenServing('other', aborted.signal);
    aborted.abort();
    await never;
  });
});
