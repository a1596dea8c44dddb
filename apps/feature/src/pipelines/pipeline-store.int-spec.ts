import 'reflect-metadata';
import { OutputSchema, PipelineSnapshot, pipelineSpecSchema } from '@dln/contracts';
import { DataSource, dropPostgresSchema, openDatabase } from '@dln/persistence';
import { TEST_DATABASES, uniqueRoot } from '@dln/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreatePipelines1764100000000 } from './create-pipelines.migration';
import { PipelineEntity, PipelineVersionEntity } from './pipeline.entities';
import { PipelineStore } from './pipeline-store';
import { emptyMaterialization } from './pipeline-views';

const spec = pipelineSpecSchema.parse({
  name: 'p',
  source: 's',
  features: [{ kind: 'numeric', name: 'x', field: 'x', transform: 'none' }],
  label: { kind: 'numeric', field: 'y' },
});
const snapshot: PipelineSnapshot = {
  snapshotVersion: 1,
  spec,
  features: [{ name: 'x', count: 1, missing: 0 }],
  label: { count: 1 },
};
const outputSchema: OutputSchema = {
  formatVersion: 1,
  dense: [{ name: 'x', offset: 0, width: 1 }],
  denseWidth: 1,
  ids: [],
  label: { kind: 'numeric' },
};

describe.each(TEST_DATABASES)('pipeline store on $kind', ({ kind, databaseUrl }) => {
  const schema = uniqueRoot(`fstore_${kind}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'dln-fstore-'));
  let dataSource: DataSource;
  let store: PipelineStore;

  beforeAll(async () => {
    dataSource = await openDatabase({
      service: 'feature',
      databaseUrl,
      dataDir,
      schema,
      entities: [PipelineEntity, PipelineVersionEntity],
      migrations: [CreatePipelines1764100000000],
    });
    store = new PipelineStore(dataSource);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    if (databaseUrl) await dropPostgresSchema(databaseUrl, schema);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('numbers versions 1, 2, 3 even when fits finish at the same time', async () => {
    expect((await store.upsert(spec, 1)).created).toBe(true);
    expect((await store.upsert(spec, 2)).created).toBe(false);
    const fields = {
      pipeline: 'p',
      fittedAt: 5,
      recordCount: 1,
      sourceSequence: 1,
      snapshot,
      outputSchema,
    };
    const added = await Promise.all(
      [1, 2, 3].map(() => store.addVersion({ ...fields, materialization: emptyMaterialization() })),
    );
    expect(added.map((v) => v.version).sort()).toEqual([1, 2, 3]);
    expect((await store.latest('p'))?.version).toBe(3);
    expect((await store.summaries('p')).map((v) => v.version)).toEqual([1, 2, 3]);
    await store.setMaterialization('p', 2, { ...emptyMaterialization(), status: 'done', run: 1 });
    const v2 = await store.version('p', 2);
    expect(v2).toMatchObject({
      recordCount: 1,
      snapshot,
      outputSchema,
      materialization: { status: 'done', run: 1 },
    });
    expect((await store.find('p'))?.createdAt).toBe(1);
  });
});
