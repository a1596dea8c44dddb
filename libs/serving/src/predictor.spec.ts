import * as tf from '@tensorflow/tfjs';
import { DlnError } from '@dln/contracts';
import { PipelineEncoder } from '@dln/features';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactFor, LabelKind, records } from './fixtures/models';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { LoadedModel } from './loaded-model';
import { Predictor } from './predictor';
import { ModelRegistry, VersionState } from './registry';
import { ServedVersion } from './served-version';

const limits = DEFAULT_SERVING_LIMITS;

/** The model run directly on the features encoder's examples: the reference every answer must equal. */
function direct(model: LoadedModel, rows: Record<string, unknown>[]): number[][] {
  const encoder = new PipelineEncoder(model.artifact.snapshot);
  const schema = encoder.outputSchema;
  const examples = rows.map((row) => encoder.encode(row, 'optional'));
  const dense = tf.tensor2d(
    examples.flatMap((e) => Array.from(e.dense)),
    [rows.length, schema.denseWidth],
  );
  const ids = tf.tensor2d(
    examples.flatMap((e) => Array.from(e.ids)),
    [rows.length, schema.ids.length],
    'int32',
  );
  const out = model.artifact.model.predict([dense, ids]) as tf.Tensor;
  const values = out.arraySync() as number[][];
  tf.dispose([dense, ids, out]);
  return values;
}

function served(kind: LabelKind, version: number, seed = 7): ServedVersion {
  return new ServedVersion(
    new LoadedModel('trips', version, artifactFor(kind, seed), limits),
    limits,
  );
}

function predictorWith(...versions: ServedVersion[]): Predictor {
  const registry = new ModelRegistry();
  for (const v of versions) registry.available('trips', v);
  return new Predictor(registry, { offloadBytes: Infinity });
}

const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const rows = records(6, 11);
const instances = rows.map(({ rid: _rid, y: _y, k: _k, ...rest }) => ({
  ...rest,
  t: new Date(rest.t as number).toISOString(),
}));

describe('Predictor', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  afterAll(() => {
    expect(tf.memory().numTensors).toBeLessThan(200);
  });

  it.each(['binary', 'class', 'numeric'] as const)(
    'answers %s predictions equal to the model run directly',
    async (kind) => {
      const v = served(kind, 1);
      const predictor = predictorWith(v);
      const answer = await predictor.answer('trips', undefined, bytes({ instances }), 'predict');
      const expected = direct(v.model, rows);
      const got = (answer as { predictions: (number | number[])[] }).predictions;
      expect(got).toHaveLength(rows.length);
      got.forEach((p, i) => {
        const want = expected[i]!;
        if (kind === 'class') {
          expect(p).toHaveLength(3);
          (p as number[]).forEach((s, c) => expect(s).toBeCloseTo(want[c]!, 6));
        } else {
          expect(p as number).toBeCloseTo(want[0]!, 6);
        }
      });
    },
  );

  it('classifies with class names in output order', async () => {
    const v = served('class', 1);
    const predictor = predictorWith(v);
    const answer = (await predictor.answer(
      'trips',
      1,
      bytes({ examples: instances.slice(0, 2) }),
      'classify',
    )) as {
      result: [string, number][][];
    };
    const classes =
      v.model.outputSchema.label.kind === 'class' ? v.model.outputSchema.label.classes : [];
    expect(answer.result[0]!.map(([name]) => name)).toEqual(classes);
    const expected = direct(v.model, rows.slice(0, 2));
    expect(answer.result[1]![2]![1]).toBeCloseTo(expected[1]![2]!, 6);
  });

  it('refuses classify on a numeric label, unknown models and versions precisely', async () => {
    const predictor = predictorWith(served('numeric', 2));
    await expect(
      predictor.answer('trips', undefined, bytes({ instances }), 'classify'),
    ).rejects.toThrow(/use :predict/);
    await expect(
      predictor.answer('nope', undefined, bytes({ instances }), 'predict'),
    ).rejects.toMatchObject({ httpStatus: 404 });
    const missing = await predictor
      .answer('trips', 9, bytes({ instances }), 'predict')
      .catch((e: DlnError) => e);
    expect(missing).toMatchObject({ httpStatus: 404, message: 'model "trips" has no version 9' });
  });

  it('merges concurrent single-record requests into one model call with the same answers', async () => {
    const v = served('binary', 1);
    const predictor = predictorWith(v);
    const alone = await Promise.all(
      instances.map(async (instance) => {
        const a = await predictor.answer(
          'trips',
          undefined,
          bytes({ instances: [instance] }),
          'predict',
        );
        return a;
      }),
    );
    const callsBefore = v.batcher.stats.calls;
    const together = await Promise.all(
      instances.map((instance) =>
        predictor.answer('trips', undefined, bytes({ instances: [instance] }), 'predict'),
      ),
    );
    expect(v.batcher.stats.calls - callsBefore).toBe(1);
    expect(together).toEqual(alone);
  });

  it('swaps the default only once the wanted version is available, without failing requests in flight', async () => {
    const v1 = served('binary', 1, 1);
    const expectedV1 = direct(v1.model, rows)[0]![0]!;
    const registry = new ModelRegistry();
    registry.available('trips', v1);
    registry.setDefault('trips', 1);
    const predictor = new Predictor(registry, { offloadBytes: Infinity });
    registry.mark('trips', 2, VersionState.Loading);
    registry.setDefault('trips', 2);
    expect(registry.defaultVersion('trips')).toBe(1);
    const inFlight = predictor.answer('trips', undefined, bytes({ instances }), 'predict');
    const v2 = served('binary', 2, 2);
    registry.available('trips', v2);
    registry.retire('trips', 1);
    const first = (await inFlight) as { predictions: number[] };
    expect(first.predictions[0]).toBeCloseTo(expectedV1, 6);
    expect(v1.inUse).toBe(0);
    const second = (await predictor.answer(
      'trips',
      undefined,
      bytes({ instances }),
      'predict',
    )) as { predictions: number[] };
    expect(second.predictions[0]).toBeCloseTo(direct(v2.model, rows)[0]![0]!, 6);
    expect(registry.status('trips').map((s) => [s.version, s.state, s.isDefault])).toEqual([
      [2, 'AVAILABLE', true],
      [1, 'END', false],
    ]);
    await expect(
      predictor.answer('trips', 1, bytes({ instances }), 'predict'),
    ).rejects.toMatchObject({ httpStatus: 503 });
  });
});
