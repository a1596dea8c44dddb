import { describe, expect, it } from 'vitest';
import { FAILOVER_DEFAULTS, failoverSpecSchema, jobControlNoticeSchema } from './failover';
import { roleConfigSchema } from './training';

const token = { jobId: 'j1', generation: 0, role: 'ps-0', attempt: 0 };

describe('failover contracts', () => {
  it('defaults the policy and refuses what is out of bounds, naming the field', () => {
    expect(failoverSpecSchema.parse({})).toEqual(FAILOVER_DEFAULTS);
    expect(failoverSpecSchema.parse({ policy: 'restart-job', maxAttempts: 0 })).toMatchObject({
      policy: 'restart-job',
      maxAttempts: 0,
    });
    for (const [bad, path] of [
      [{ policy: 'restart-node' }, 'policy'],
      [{ maxAttempts: -1 }, 'maxAttempts'],
      [{ maxAttempts: 1.5 }, 'maxAttempts'],
      [{ backoffMs: Number.NaN }, 'backoffMs'],
      [{ maxBackoffMs: Number.POSITIVE_INFINITY }, 'maxBackoffMs'],
      [{ backoffMs: 600_001 }, 'backoffMs'],
      [{ extra: true }, ''],
    ] as const) {
      const parsed = failoverSpecSchema.safeParse(bad);
      expect(parsed.success, JSON.stringify(bad)).toBe(false);
      expect(parsed.error?.issues[0]?.path.join('.')).toBe(path);
    }
  });

  it('parses both notices and refuses a notice with a malformed token', () => {
    expect(
      jobControlNoticeSchema.parse({
        type: 'role-replaced',
        jobId: 'j1',
        superseded: token,
        by: { ...token, attempt: 1 },
        reason: 'node lost',
      }).type,
    ).toBe('role-replaced');
    expect(
      jobControlNoticeSchema.parse({
        type: 'generation',
        jobId: 'j1',
        generation: 2,
        restoreFrom: null,
        reason: 'ps-0 lost',
      }).type,
    ).toBe('generation');
    expect(
      jobControlNoticeSchema.safeParse({
        type: 'role-replaced',
        jobId: 'j1',
        superseded: { ...token, role: 'chief' },
        by: token,
        reason: '',
      }).success,
    ).toBe(false);
  });

  it('keeps role configs without the failover fields readable (fresh start)', () => {
    const shape = roleConfigSchema.shape;
    expect(shape.start.parse(undefined)).toBe('fresh');
    expect(shape.resume.parse(undefined)).toBeNull();
    expect(shape.resume.safeParse({ epoch: 0, step: -1, examples: 0 }).success).toBe(false);
  });
});
