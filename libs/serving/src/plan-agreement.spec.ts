import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { artifactFor, records } from './fixtures/models';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { LoadedModel } from './loaded-model';
import { planSignature } from './plan-agreement';

describe('a compiled plan checked once per architecture', () => {
  const body = { instances: records(6, 5).map(({ rid: _r, y: _y, k: _k, ...rest }) => rest) };
  const built: LoadedModel[] = [];

  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  afterAll(() => built.forEach((model) => model.dispose()));

  it('gives models of one architecture one signature, whatever their weights and initializers', () => {
    const a = artifactFor('numeric', 31);
    const b = artifactFor('numeric', 32);
    const other = artifactFor('class', 31);
    expect(JSON.stringify(a.model.toJSON(null, false))).not.toBe(
      JSON.stringify(b.model.toJSON(null, false)),
    );
    expect(planSignature(a.model)).toBe(planSignature(b.model));
    expect(planSignature(other.model)).not.toBe(planSignature(a.model));
    [a, b, other].forEach((artifact) => artifact.model.dispose());
  });

  it('probes the first version of an architecture, then trusts its plan for the next versions', async () => {
    const first = artifactFor('binary', 41);
    const second = artifactFor('binary', 42);
    const firstCalls = vi.spyOn(first.model, 'predictOnBatch');
    const secondCalls = vi.spyOn(second.model, 'predictOnBatch');
    const load = async (version: number, artifact: typeof first): Promise<LoadedModel> => {
      const model = new LoadedModel('m', version, artifact, DEFAULT_SERVING_LIMITS, undefined, {
        plan: 'later',
      });
      built.push(model);
      await model.compilePlan();
      return model;
    };
    const v1 = await load(1, first);
    expect(firstCalls).toHaveBeenCalled();
    expect(v1.compiled).toBe(true);
    const v2 = await load(2, second);
    expect(secondCalls).not.toHaveBeenCalled();
    expect(v2.compiled).toBe(true);
    // The trusted plan scores the second version's own weights like its layers model.
    const batch = v2.encoder.encode(body, 'predict');
    const planned = Array.from(v2.run(batch));
    const reference = new LoadedModel('m', 3, second, DEFAULT_SERVING_LIMITS, undefined, {
      plan: 'later',
    });
    const layers = Array.from(reference.run(batch));
    expect(reference.compiled).toBe(false);
    planned.forEach((value, i) => expect(value).toBeCloseTo(layers[i] as number, 5));
    expect(planned).not.toEqual(Array.from(v1.run(batch)));
  });
});
