import { afterAll, describe, expect, it } from 'vitest';
import { records, snapshotFor, source } from './fixtures/models';
import { DEFAULT_SERVING_LIMITS } from './limits';
import { ParsePool, sameEncoding } from './parse-pool';
import { RequestEncoder } from './request-encoder';

const spec = { snapshot: snapshotFor('binary'), source, limits: DEFAULT_SERVING_LIMITS };
const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const instances = records(256, 5).map(({ rid: _rid, y: _y, ...rest }) => rest);

describe('ParsePool', () => {
  const pool = new ParsePool(2);
  afterAll(() => pool.close());

  it('encodes in a worker thread exactly as inline', async () => {
    pool.register('trips', 1, spec);
    const inline = new RequestEncoder(spec).encodeBytes(bytes({ instances }), 'predict');
    const offloaded = await Promise.all(
      [1, 2, 3].map(() => pool.encode('trips', 1, bytes({ instances }), 'predict')),
    );
    for (const batch of offloaded) expect(batch).toEqual(inline);
  });

  it('reports the same precise errors', async () => {
    pool.register('trips', 2, spec);
    const bad = (): Uint8Array => bytes({ instances: [{ ...instances[0], x: 'far' }] });
    await expect(pool.encode('trips', 2, bad(), 'predict')).rejects.toMatchObject({
      httpStatus: 400,
      message: 'instances[0].x: must be a number, got string',
    });
    pool.drop('trips', 2);
    await expect(pool.encode('trips', 2, bad(), 'predict')).rejects.toMatchObject({
      httpStatus: 500,
    });
  });

  it('a version pinning the very same snapshot shares the encoder already in the workers', async () => {
    const shared = { ...spec, source: { ...source } };
    pool.register('trips', 3, spec);
    pool.register('trips', 4, shared);
    pool.drop('trips', 3);
    const inline = new RequestEncoder(spec).encodeBytes(bytes({ instances }), 'predict');
    expect(await pool.encode('trips', 4, bytes({ instances }), 'predict')).toEqual(inline);
    expect(sameEncoding(spec, shared)).toBe(true);
    expect(sameEncoding(spec, { ...spec, snapshot: snapshotFor('binary') })).toBe(false);
    expect(sameEncoding(spec, { ...spec, limits: { ...spec.limits, maxInstances: 3 } })).toBe(
      false,
    );
  });
});
