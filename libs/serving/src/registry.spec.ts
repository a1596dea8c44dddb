import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { artifactFor } from './fixtures/models';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { LoadedModel } from './loaded-model';
import { ModelRegistry, VersionState } from './registry';
import { ServedVersion } from './served-version';

const served = (version: number): ServedVersion =>
  new ServedVersion(
    new LoadedModel('m', version, artifactFor('binary', version), DEFAULT_SERVING_LIMITS),
    DEFAULT_SERVING_LIMITS,
  );

describe('ModelRegistry', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('answers 503 while nothing is loaded, then keeps the first available version until another is wanted or it is retired', () => {
    const registry = new ModelRegistry();
    registry.mark('m', 1, VersionState.Loading);
    expect(() => registry.resolve('m')).toThrow(
      expect.objectContaining({ httpStatus: 503, message: 'model "m" has no version loaded yet' }),
    );
    expect(() => registry.resolve('m', 1)).toThrow(
      expect.objectContaining({ httpStatus: 503, message: 'version 1 of model "m" is loading' }),
    );
    registry.available('m', served(1));
    registry.available('m', served(2));
    expect(registry.defaultVersion('m')).toBe(1);
    registry.setDefault('m', null);
    expect(registry.resolve('m').version).toBe(1);
    registry.retire('m', 1);
    expect(registry.resolve('m').version).toBe(2);
  });

  it('keeps a failed load visible with its error, and frees a retired model only after its last user', async () => {
    const registry = new ModelRegistry();
    registry.mark('m', 3, VersionState.End, 'loading failed: no weights');
    expect(registry.status('m')).toEqual([
      { version: 3, state: 'END', isDefault: false, error: 'loading failed: no weights' },
    ]);
    const v4 = served(4);
    registry.available('m', v4);
    let release: () => void = () => undefined;
    const using = v4.use(() => new Promise<void>((resolve) => (release = resolve)));
    registry.retire('m', 4);
    expect(v4.inUse).toBe(1);
    const batch = v4.model.encoder.encode({ instances: [{ t: 0, x: 1, c: 'red' }] }, 'predict');
    expect(v4.model.run(batch)).toHaveLength(1);
    release();
    await using;
    expect(() => v4.model.run(batch)).toThrow('model m v4 was unloaded');
  });
});
