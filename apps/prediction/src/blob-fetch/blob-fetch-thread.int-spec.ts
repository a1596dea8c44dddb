import { ModelVersion, Subjects } from '@dln/contracts';
import { connectNats } from '@dln/messaging';
import type { NatsConnection } from '@dln/messaging';
import { deleteStreamsOfRoot, PrivateNatsServer, TEST_NATS_URL, uniqueRoot } from '@dln/testing';
import { Objm } from '@nats-io/obj';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactSource } from '../artifact-source';
import { BlobFetchThread } from './blob-fetch-thread';

// Model artifacts read in a worker thread on its own connection: the bytes exactly as stored,
// null for a missing object, a precise rejection for a missing bucket; a thread that cannot
// connect leaves ArtifactSource reading on the event loop, and says so.
const root = uniqueRoot('blob_fetch');
const subjects = new Subjects(root);
const bucket = subjects.bucket('models');
const small = new TextEncoder().encode('{"format":"layers-model"}');
const large = new Uint8Array(randomBytes(300_000));
let nc: NatsConnection;
let thread: BlobFetchThread;

const version: ModelVersion = {
  model: 'flights',
  version: 7,
  jobId: 'job',
  pipeline: 'flights',
  pipelineVersion: 1,
  objects: ['flights/7/model.json', 'flights/7/weights.bin'],
  metrics: { loss: 0.5, examples: 10 },
  isDefault: true,
  pinned: false,
  createdAt: '2026-12-04T00:00:00.000Z',
};

describe('BlobFetchThread', () => {
  beforeAll(async () => {
    nc = await connectNats({ servers: TEST_NATS_URL, name: 'blob-fetch-int-spec' });
    const store = await new Objm(nc).create(bucket);
    await store.putBlob({ name: 'flights/7/model.json' }, small);
    await store.putBlob({ name: 'flights/7/weights.bin' }, large);
    thread = new BlobFetchThread({
      connection: { servers: TEST_NATS_URL, name: 'blob-fetch-int-spec' },
    }).start();
  }, 60_000);

  afterAll(async () => {
    await thread?.close();
    await deleteStreamsOfRoot(nc, root);
    await nc?.drain();
  });

  it('reads blobs exactly as stored, concurrently, and null for an object that is not there', async () => {
    const [first, second] = await Promise.all([
      thread.fetch(bucket, ['flights/7/weights.bin', 'flights/7/model.json', 'flights/7/gone']),
      thread.fetch(bucket, ['flights/7/weights.bin']),
    ]);
    expect(Buffer.from(first.get('flights/7/weights.bin') ?? []).equals(large)).toBe(true);
    expect(Buffer.from(first.get('flights/7/model.json') ?? []).equals(small)).toBe(true);
    expect(first.get('flights/7/gone')).toBeNull();
    expect(Buffer.from(second.get('flights/7/weights.bin') ?? []).equals(large)).toBe(true);
  }, 60_000);

  it('rejects a fetch from a bucket that does not exist', async () => {
    await expect(thread.fetch(`${bucket}_none`, ['x'])).rejects.toThrow(/not found|no such/i);
  }, 60_000);

  it('gives ArtifactSource every object of a version, and names the missing one', async () => {
    const warnings: string[] = [];
    const source = new ArtifactSource(nc, subjects, thread, (m) => warnings.push(m));
    const blobs = await source.blobs(version);
    expect([...blobs.keys()]).toEqual(version.objects);
    expect(Buffer.from(blobs.get('flights/7/weights.bin') ?? []).equals(large)).toBe(true);
    await expect(
      source.blobs({ ...version, objects: [...version.objects, 'flights/7/pipeline.json'] }),
    ).rejects.toThrow(`object flights/7/pipeline.json of flights v7 is not in ${bucket}`);
    expect(warnings).toEqual([]);
  }, 60_000);

  it('a thread that cannot connect leaves ArtifactSource reading on the event loop, with a warning', async () => {
    const unreachable = new BlobFetchThread(
      { connection: { servers: 'nats://127.0.0.1:1', name: 'nowhere', connectTimeoutMs: 500 } },
      30_000,
    );
    const warnings: string[] = [];
    const source = new ArtifactSource(nc, subjects, unreachable, (m) => warnings.push(m));
    const blobs = await source.blobs(version);
    expect(Buffer.from(blobs.get('flights/7/model.json') ?? []).equals(small)).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /flights v7: the blob fetch thread failed \(.+\); reading on the event loop/,
    );
    await unreachable.close();
    await expect(unreachable.fetch(bucket, ['x'])).rejects.toThrow(/closed/);
  }, 60_000);

  it('connects again on the next fetch when NATS was down as the thread started', async () => {
    const server = await PrivateNatsServer.start();
    await server.stop();
    const late = new BlobFetchThread(
      { connection: { servers: server.url, name: 'late-nats', connectTimeoutMs: 500 } },
      30_000,
    ).start();
    try {
      await expect(late.fetch(bucket, ['flights/7/model.json'])).rejects.toThrow();
      await server.resume();
      const own = await connectNats({ servers: server.url, name: 'late-nats-writer' });
      try {
        await (await new Objm(own).create(bucket)).putBlob({ name: 'flights/7/model.json' }, small);
      } finally {
        await own.close();
      }
      const blobs = await late.fetch(bucket, ['flights/7/model.json']);
      expect(Buffer.from(blobs.get('flights/7/model.json') ?? []).equals(small)).toBe(true);
    } finally {
      await late.close();
      await server.dispose();
    }
  }, 90_000);
});
