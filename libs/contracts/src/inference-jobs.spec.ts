import { describe, expect, it } from 'vitest';
import { inferenceJobConsumer, inferenceMsgId, isStreamInput } from './inference-jobs';
import { inferenceJobSpecSchema, isInferenceSubmission, jobSpecSchema } from './jobs';

const valid = {
  name: 'score-flights',
  mode: 'inference',
  inference: { model: 'flights', input: { pipeline: 'flights' } },
  cluster: { workers: 2, ps: 2 },
};

function issues(body: unknown): { path: string; message: string }[] {
  const result = inferenceJobSpecSchema.safeParse(body);
  if (result.success) return [];
  return result.error.issues.map((issue) => ({
    path: issue.path.join('.'),
    message: issue.message,
  }));
}

describe('inference job spec', () => {
  it('takes a model (version optional), an input and a cluster, with defaults', () => {
    const spec = inferenceJobSpecSchema.parse(valid);
    expect(spec.inference).toEqual({
      model: 'flights',
      input: { pipeline: 'flights' },
      batchSize: 256,
      ackWaitSeconds: 30,
      fetchWaitMs: 1000,
    });
    expect(spec.scheduling.timeoutSeconds).toBe(300);
    expect(spec.failover.policy).toBe('restart-role');
    const pinned = inferenceJobSpecSchema.parse({
      ...valid,
      inference: { model: 'flights', version: 3, input: { pipeline: 'flights', version: 2 } },
    });
    expect(pinned.inference.version).toBe(3);
    expect(pinned.inference.input).toEqual({ pipeline: 'flights', version: 2 });
    const stream = inferenceJobSpecSchema.parse({
      ...valid,
      inference: { model: 'flights', input: { source: 'flights' } },
    });
    expect(stream.inference.input).toEqual({ source: 'flights', startAt: 'first' });
    expect(isStreamInput(stream.inference.input)).toBe(true);
    expect(isStreamInput(pinned.inference.input)).toBe(false);
  });

  it('refuses every training-only field by name', () => {
    const body = {
      ...valid,
      training: { epochs: 1 },
      model: { kind: 'logistic' },
      output: { model: 'x' },
      examples: { pipeline: 'flights' },
      stream: {},
    };
    const found = issues(body);
    expect(found.map((i) => i.path).sort()).toEqual([
      'examples',
      'model',
      'output',
      'stream',
      'training',
    ]);
    expect(found[0]!.message).toMatch(/an inference job takes no/);
  });

  it('refuses zero workers or shards, bad versions, batch sizes and unknown fields', () => {
    expect(issues({ ...valid, cluster: { workers: 0, ps: 1 } })[0]?.path).toBe('cluster.workers');
    expect(issues({ ...valid, cluster: { workers: 1, ps: 0 } })[0]?.path).toBe('cluster.ps');
    expect(issues({ ...valid, inference: { ...valid.inference, version: 0 } })[0]?.path).toBe(
      'inference.version',
    );
    expect(
      issues({ ...valid, inference: { ...valid.inference, version: Number.NaN } })[0]?.path,
    ).toBe('inference.version');
    expect(issues({ ...valid, inference: { ...valid.inference, batchSize: 5000 } })[0]?.path).toBe(
      'inference.batchSize',
    );
    expect(
      issues({ ...valid, inference: { ...valid.inference, input: { table: 'x' } } })[0]?.path,
    ).toMatch(/^inference\.input/);
    expect(issues({ ...valid, inference: { input: { pipeline: 'flights' } } })[0]?.path).toBe(
      'inference.model',
    );
    expect(issues({ ...valid, extra: 1 }).length).toBe(1);
  });

  it('is told apart from batch and stream specs, which refuse inference settings', () => {
    expect(isInferenceSubmission(valid)).toBe(true);
    expect(isInferenceSubmission({ mode: 'batch' })).toBe(false);
    expect(isInferenceSubmission(null)).toBe(false);
    const batch = jobSpecSchema.safeParse({
      name: 'j',
      examples: { pipeline: 'p', version: 1 },
      model: { kind: 'logistic' },
      training: { epochs: 1, batchSize: 8, optimizer: { kind: 'sgd', learningRate: 0.1 } },
      cluster: { workers: 1, ps: 1 },
      output: { model: 'm' },
      inference: valid.inference,
    });
    expect(batch.success).toBe(false);
    expect(batch.error?.issues.map((i) => i.path.join('.'))).toContain('inference');
    const asBatch = jobSpecSchema.safeParse({ ...valid, mode: 'inference' });
    expect(asBatch.success).toBe(false);
  });

  it('names the job consumer and message ids per job', () => {
    expect(inferenceJobConsumer('score-1a2b')).toBe('infer_score-1a2b');
    expect(() => inferenceJobConsumer('Bad Id')).toThrow();
    expect(inferenceMsgId('job1', 'flights', 'r7')).toBe('job1:flights:r7');
  });
});
