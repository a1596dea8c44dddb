import { describe, expect, it } from 'vitest';
import { FencingToken, JobControlNotice } from '@dln/contracts';
import { supersessionOf } from './job-control';

const token = (role: string, attempt = 0, generation = 1): FencingToken => ({
  jobId: 'job1',
  generation,
  role,
  attempt,
});
const replaced = (superseded: FencingToken, by: FencingToken): JobControlNotice => ({
  type: 'role-replaced',
  jobId: 'job1',
  superseded,
  by,
  reason: 'lost',
});

describe('supersessionOf', () => {
  it('ends the superseded incarnation of the replaced role, and only it', () => {
    const notice = replaced(token('worker-1'), token('worker-1', 1));
    expect(supersessionOf(token('worker-1'), notice)).toMatch(/replaced by attempt 1/);
    expect(supersessionOf(token('worker-1', 1), notice)).toBeNull();
    expect(supersessionOf(token('worker-0'), notice)).toBeNull();
    // A late notice about an older replacement does not end a newer attempt.
    expect(supersessionOf(token('worker-1', 2), notice)).toBeNull();
  });

  it('ends every role of an older generation, not those of the new one or of another job', () => {
    const notice: JobControlNotice = {
      type: 'generation',
      jobId: 'job1',
      generation: 2,
      restoreFrom: null,
      reason: 'ps-0 lost',
    };
    expect(supersessionOf(token('ps-0'), notice)).toMatch(/generation 2/);
    expect(supersessionOf(token('worker-0', 3, 2), notice)).toBeNull();
    expect(supersessionOf({ ...token('ps-0'), jobId: 'job2' }, notice)).toBeNull();
  });
});
