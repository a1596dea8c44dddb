import { JobSpec, jobSpecSchema, JobState, RoleState } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import {
  applyRoleFailure,
  backoffDelay,
  decideFailover,
  emptyFailoverState,
  FailoverJob,
  failoverOf,
  isRecovered,
  RoleFailure,
} from './failover';
import { currentRoles, initialRoles, RoleRecord } from './roles';

const specOf = (failover: object = {}, updateMode: 'sync' | 'async' = 'sync'): JobSpec =>
  jobSpecSchema.parse({
    name: 'flights',
    examples: { pipeline: 'flights', version: 1 },
    model: { kind: 'logistic' },
    training: {
      epochs: 2,
      batchSize: 8,
      optimizer: { kind: 'sgd', learningRate: 0.1 },
      updateMode,
    },
    cluster: { workers: 2, ps: 2 },
    output: { model: 'delays' },
    failover,
  });

const lost = (reason = 'node n2 is lost'): RoleFailure => ({ to: 'LOST', reason, retryable: true });

/** A RUNNING job whose roles all run: ps-i on p<i>, worker-i on w<i>. */
function runningJob(spec: JobSpec, state: JobState = JobState.Running): FailoverJob {
  const roles = initialRoles(spec, 0).map((role) => ({
    ...role,
    state: RoleState.Running,
    nodeId: `${role.kind === 'ps' ? 'p' : 'w'}${role.index}`,
  }));
  return {
    id: 'j1',
    spec,
    state,
    reason: null,
    generation: 0,
    roles,
    failover: emptyFailoverState(),
  };
}
const find = (job: FailoverJob, name: string) =>
  currentRoles(job.roles).find((role) => role.role === name) as RoleRecord;

describe('decideFailover', () => {
  const worker = { role: 'worker-1', kind: 'worker' as const };
  const ps = { role: 'ps-0', kind: 'ps' as const };

  it('fails the job at once for a failure a retry cannot help, whatever the policy', () => {
    for (const policy of ['restart-role', 'restart-job']) {
      expect(
        decideFailover(
          specOf({ policy }),
          worker,
          { to: 'FAILED', reason: 'model does not fit in memory', retryable: false },
          1,
        ),
      ).toEqual({ action: 'fail-job', reason: 'worker-1 failed: model does not fit in memory' });
    }
  });

  it('replaces a worker, and an async ps shard, alone under restart-role', () => {
    expect(decideFailover(specOf(), worker, lost(), 1)).toEqual({
      action: 'replace-role',
      delayMs: 1000,
    });
    expect(decideFailover(specOf({}, 'async'), ps, lost(), 2)).toEqual({
      action: 'replace-role',
      delayMs: 2000,
    });
  });

  it('rolls the whole job back for a sync ps shard, and for anything under restart-job', () => {
    expect(decideFailover(specOf(), ps, lost(), 1)).toMatchObject({
      action: 'restart-job',
      why: 'ps-0 lost: node n2 is lost (a ps shard in sync mode rolls every role back)',
    });
    expect(
      decideFailover(specOf({ policy: 'restart-job' }, 'async'), worker, lost(), 1),
    ).toMatchObject({
      action: 'restart-job',
      why: 'worker-1 lost: node n2 is lost (policy restart-job)',
    });
  });

  it('fails the job once a role has failed more than maxAttempts times', () => {
    const spec = specOf({ maxAttempts: 2 });
    expect(decideFailover(spec, worker, lost(), 2).action).toBe('replace-role');
    expect(decideFailover(spec, worker, lost(), 3)).toEqual({
      action: 'fail-job',
      reason:
        'worker-1 lost: node n2 is lost (attempts exhausted: worker-1 failed 3 time(s), failover.maxAttempts is 2)',
    });
    expect(decideFailover(specOf({ maxAttempts: 0 }), worker, lost(), 1).action).toBe('fail-job');
  });

  it('backs off exponentially from the base up to the cap', () => {
    const failover = failoverOf(specOf({ backoffMs: 100, maxBackoffMs: 1000 }));
    expect([0, 1, 2, 3, 4, 5, 80].map((n) => backoffDelay(failover, n))).toEqual([
      0, 100, 200, 400, 800, 1000, 1000,
    ]);
    // A spec stored before failover existed gets the defaults.
    const { failover: _dropped, ...old } = specOf();
    expect(failoverOf(old as JobSpec)).toEqual(failoverOf(specOf()));
  });
});

describe('applyRoleFailure', () => {
  it('worker lost: LOST then SUPERSEDED, attempt + 1 pending as a replacement, job RECOVERING, survivors told', () => {
    const job = runningJob(specOf());
    const victim = find(job, 'worker-1');
    const outcome = applyRoleFailure(job, victim, lost(), 5000, 'j1/g0/step-10/manifest.json');
    expect(outcome.decision).toEqual({ action: 'replace-role', delayMs: 1000 });
    expect(job.state).toBe(JobState.Recovering);
    expect(job.failover).toEqual({
      failures: { 'worker-1': 1 },
      retryAt: 6000,
      exportDeadline: null,
    });
    expect(victim.state).toBe(RoleState.Superseded);
    expect(find(job, 'worker-1')).toEqual({
      ...victim,
      attempt: 1,
      state: RoleState.Pending,
      nodeId: null,
      reason: null,
      start: 'replacement',
    });
    expect(outcome.events.map((e) => [e.type, e.role, e.from, e.to])).toEqual([
      ['role-state', 'worker-1', 'RUNNING', 'LOST'],
      ['job-state', null, 'RUNNING', 'RECOVERING'],
      ['role-state', 'worker-1', 'LOST', 'SUPERSEDED'],
      ['info', 'worker-1', null, null],
    ]);
    expect(outcome.release.map((r) => [r.role, r.nodeId, r.attempt])).toEqual([
      ['worker-1', 'w1', 0],
    ]);
    expect(outcome.stop).toEqual([]);
    expect(outcome.changed).toHaveLength(2);
    expect(outcome.notices).toEqual([
      {
        type: 'role-replaced',
        jobId: 'j1',
        superseded: { jobId: 'j1', generation: 0, role: 'worker-1', attempt: 0 },
        by: { jobId: 'j1', generation: 0, role: 'worker-1', attempt: 1 },
        reason: 'worker-1 lost: node n2 is lost',
      },
    ]);
    // The other roles carry on untouched.
    expect(
      currentRoles(job.roles)
        .filter((r) => r.role !== 'worker-1')
        .every((r) => r.state === 'RUNNING'),
    ).toBe(true);
  });

  it('a second loss while RECOVERING keeps the job RECOVERING and pushes the retry time out', () => {
    const job = runningJob(specOf({}, 'async'));
    applyRoleFailure(job, find(job, 'worker-0'), lost(), 1000, null);
    applyRoleFailure(job, find(job, 'ps-1'), lost(), 1500, null);
    expect(job.state).toBe(JobState.Recovering);
    expect(job.failover.retryAt).toBe(2500);
    expect(find(job, 'ps-1')).toMatchObject({ attempt: 1, start: 'replacement', generation: 0 });
    // A replacement that fails too keeps its start kind and counts against the same role.
    const again = find(job, 'worker-0');
    again.state = RoleState.Assigned;
    again.nodeId = 'w9';
    const outcome = applyRoleFailure(
      job,
      again,
      { to: 'FAILED', reason: 'process crashed (code 1)', retryable: true },
      3000,
      null,
    );
    expect(outcome.decision).toEqual({ action: 'replace-role', delayMs: 2000 });
    expect(find(job, 'worker-0')).toMatchObject({ attempt: 2, start: 'replacement' });
    expect(job.failover.failures).toEqual({ 'worker-0': 2, 'ps-1': 1 });
  });

  it('a role failing while the job is SCHEDULING is replaced without a job transition', () => {
    const job = runningJob(specOf({}, 'async'), JobState.Scheduling);
    const outcome = applyRoleFailure(job, find(job, 'ps-0'), lost(), 0, null);
    expect(job.state).toBe(JobState.Scheduling);
    expect(outcome.events.some((e) => e.type === 'job-state')).toBe(false);
  });

  it('sync ps lost: generation + 1, every role superseded (live ones stopped, reserved slots freed), all restart from the checkpoint', () => {
    const job = runningJob(specOf());
    const pending = find(job, 'worker-1');
    pending.state = RoleState.Pending; // placed, its slot reserved, not assigned yet
    const done = find(job, 'worker-0');
    done.state = RoleState.Done;
    const manifest = 'j1/g0/step-20/manifest.json';
    const outcome = applyRoleFailure(job, find(job, 'ps-1'), lost(), 100, manifest);
    expect(outcome.decision.action).toBe('restart-job');
    expect(job.generation).toBe(1);
    expect(job.state).toBe(JobState.Recovering);
    const old = job.roles.filter((r) => r.generation === 0);
    expect(old.map((r) => [r.role, r.state])).toEqual([
      ['ps-0', 'SUPERSEDED'],
      ['ps-1', 'SUPERSEDED'],
      ['worker-0', 'DONE'],
      ['worker-1', 'SUPERSEDED'],
    ]);
    expect(outcome.stop.map((r) => [r.role, r.nodeId])).toEqual([['ps-0', 'p0']]);
    expect(outcome.release.map((r) => r.role).sort()).toEqual(['ps-1', 'worker-1']);
    expect(
      currentRoles(job.roles).map((r) => [r.role, r.generation, r.attempt, r.state, r.start]),
    ).toEqual([
      ['ps-0', 1, 0, 'PENDING', 'rollback'],
      ['ps-1', 1, 0, 'PENDING', 'rollback'],
      ['worker-0', 1, 0, 'PENDING', 'rollback'],
      ['worker-1', 1, 0, 'PENDING', 'rollback'],
    ]);
    expect(outcome.notices).toEqual([
      {
        type: 'generation',
        jobId: 'j1',
        generation: 1,
        restoreFrom: manifest,
        reason: 'ps-1 lost: node n2 is lost (a ps shard in sync mode rolls every role back)',
      },
    ]);
    expect(new Set(outcome.changed).size).toBe(outcome.changed.length);
    expect(outcome.changed).toHaveLength(7); // 3 superseded (worker-0 stays DONE) + 4 new
  });

  it('restart-job supersedes a pending replacement of the old generation too', () => {
    const job = runningJob(specOf({ policy: 'restart-job' }, 'async'));
    applyRoleFailure(job, find(job, 'worker-1'), lost(), 0, null);
    expect(job.generation).toBe(1);
    applyRoleFailure(
      job,
      Object.assign(find(job, 'ps-0'), { state: RoleState.Assigned, nodeId: 'p0' }),
      lost(),
      10,
      null,
    );
    expect(job.generation).toBe(2);
    expect(job.roles.filter((r) => r.generation === 1).map((r) => r.state)).toEqual([
      'SUPERSEDED',
      'SUPERSEDED',
      'SUPERSEDED',
      'SUPERSEDED',
    ]);
  });

  it('attempts exhausted: only the role transition; the caller fails the job', () => {
    const job = runningJob(specOf({ maxAttempts: 0 }));
    const outcome = applyRoleFailure(job, find(job, 'worker-0'), lost(), 0, null);
    expect(outcome.decision.action).toBe('fail-job');
    expect(job.state).toBe(JobState.Running);
    expect(outcome.events.map((e) => e.to)).toEqual(['LOST']);
    expect(job.roles).toHaveLength(4);
  });

  it('refuses a role that is not live (a superseded attempt cannot fail again)', () => {
    const job = runningJob(specOf());
    const victim = find(job, 'worker-0');
    applyRoleFailure(job, victim, lost(), 0, null);
    expect(() => applyRoleFailure(job, victim, lost(), 1, null)).toThrow(/SUPERSEDED, not live/);
  });
});

describe('isRecovered', () => {
  it('needs every current role running (finished workers count, a finished ps does not)', () => {
    expect(isRecovered([])).toBe(false);
    expect(
      isRecovered([
        { kind: 'ps', state: 'RUNNING' },
        { kind: 'worker', state: 'DONE' },
      ]),
    ).toBe(true);
    expect(
      isRecovered([
        { kind: 'ps', state: 'RUNNING' },
        { kind: 'worker', state: 'ASSIGNED' },
      ]),
    ).toBe(false);
    expect(isRecovered([{ kind: 'ps', state: 'DONE' }])).toBe(false);
  });
});
