import * as tf from '@tensorflow/tfjs';
import {
  artifactFromBlobs,
  artifactToBlobs,
  exportModelArtifact,
  loadArtifactModel,
} from '@dln/ml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactFor, records } from './fixtures/models';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { LoadedModel } from './loaded-model';
import { loadModelStepwise, withZeroInitializers } from './stepwise-load';

describe('loading a model in steps', () => {
  let servable: ReturnType<typeof artifactFor>;
  const body = { instances: records(5, 3).map(({ rid: _r, y: _y, k: _k, ...rest }) => rest) };
  const disposables: { dispose(): void }[] = [];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    servable = artifactFor('class', 9);
  });
  afterAll(() => {
    disposables.forEach((d) => d.dispose());
    servable.model.dispose();
  });

  it('gives the same model as loadArtifactModel, yielding to the event loop between steps', async () => {
    const exported = await exportModelArtifact(servable.model, {
      pipeline: servable.snapshot,
      outputSchema: servable.outputSchema,
    });
    const artifact = artifactFromBlobs(artifactToBlobs(exported));
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns += 1;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const stepwise = await loadModelStepwise(artifact);
    counting = false;
    const whole = await loadArtifactModel(artifact);
    disposables.push(stepwise, whole);
    expect(turns).toBeGreaterThanOrEqual(1);
    const a = new LoadedModel('m', 1, { ...servable, model: stepwise }, DEFAULT_SERVING_LIMITS);
    const b = new LoadedModel('m', 1, { ...servable, model: whole }, DEFAULT_SERVING_LIMITS);
    const batch = a.encoder.encode(body, 'predict');
    expect(Array.from(a.run(batch))).toEqual(Array.from(b.run(batch)));
    expect(Array.from(a.run(batch))).toEqual(
      Array.from(new LoadedModel('m', 1, servable, DEFAULT_SERVING_LIMITS).run(batch)),
    );
  });

  it("a model built with plan 'later' scores before and after its plan is compiled, alike", async () => {
    const later = new LoadedModel('m', 2, servable, DEFAULT_SERVING_LIMITS, undefined, {
      plan: 'later',
    });
    const batch = later.encoder.encode(body, 'predict');
    expect(later.compiled).toBe(false);
    const before = Array.from(later.run(batch));
    await later.compilePlan();
    expect(later.compiled).toBe(true);
    const after = Array.from(later.run(batch));
    after.forEach((value, i) => expect(value).toBeCloseTo(before[i] as number, 5));
  });

  it('builds the layers with zero initializers (their weights are all set after), nothing else changed', () => {
    const topology = servable.model.toJSON(null, false) as unknown as Record<string, unknown>;
    const zeroed = withZeroInitializers(topology);
    const initializers: unknown[] = [];
    const strip = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(strip)
        : value !== null && typeof value === 'object'
          ? Object.fromEntries(
              Object.entries(value).map(([key, inner]) => {
                if (!key.endsWith('_initializer')) return [key, strip(inner)];
                initializers.push(inner);
                return [key, null];
              }),
            )
          : value;
    expect(strip(zeroed)).toEqual(strip(topology));
    expect(initializers.length).toBeGreaterThan(0);
    const zeros = '{"class_name":"Zeros","config":{}}';
    const half = initializers.length / 2;
    expect(initializers.slice(0, half).every((i) => JSON.stringify(i) === zeros)).toBe(true);
    expect(initializers.slice(half).some((i) => JSON.stringify(i) !== zeros)).toBe(true);
  });
});
