import {
  IllegalTransitionError,
  JOB_TRANSITIONS,
  JobState,
  ROLE_TRANSITIONS,
  RoleState,
} from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { currentRoles, initialRoles, parseRoleName, roleName, tokenOf } from './roles';
import { retireRole, transitionJob, transitionRole } from './transitions';

const role = (state: RoleState) => ({
  ...initialRoles({ cluster: { workers: 1, ps: 1 } }, 0)[1]!,
  state,
  nodeId: 'n1',
});

describe('job transitions', () => {
  const all = Object.values(JobState);
  for (const from of all) {
    for (const to of all) {
      const allowed = JOB_TRANSITIONS[from].includes(to);
      it(`${from} -> ${to} is ${allowed ? 'applied with an event' : 'refused'}`, () => {
        const job = { state: from, reason: null as string | null };
        if (allowed) {
          const event = transitionJob(job, to, 'why', 42);
          expect(job).toEqual({ state: to, reason: 'why' });
          expect(event).toEqual({
            type: 'job-state',
            from,
            to,
            role: null,
            detail: { reason: 'why' },
            at: 42,
          });
        } else {
          expect(() => transitionJob(job, to, 'why', 42)).toThrow(IllegalTransitionError);
          expect(job.state).toBe(from);
        }
      });
    }
  }
});

describe('role transitions', () => {
  const all = Object.values(RoleState);
  for (const from of all) {
    for (const to of all) {
      const allowed = ROLE_TRANSITIONS[from].includes(to);
      it(`${from} -> ${to} is ${allowed ? 'applied' : 'refused'}`, () => {
        const record = role(from);
        if (allowed) {
          const event = transitionRole(record, to, null, 7);
          expect(record.state).toBe(to);
          expect(event).toMatchObject({
            type: 'role-state',
            from,
            to,
            role: 'worker-0',
            detail: { generation: 0, attempt: 0, nodeId: 'n1' },
          });
        } else {
          expect(() => transitionRole(record, to, null, 7)).toThrow(/role worker-0 cannot go/);
        }
      });
    }
  }

  it('retires running roles as DONE, unstarted ones as SUPERSEDED, ended ones not at all', () => {
    expect(retireRole(role(RoleState.Running), 'job cancelled', 1)?.to).toBe(RoleState.Done);
    expect(retireRole(role(RoleState.Assigned), 'job cancelled', 1)?.to).toBe(RoleState.Superseded);
    expect(retireRole(role(RoleState.Pending), 'job cancelled', 1)?.to).toBe(RoleState.Superseded);
    expect(retireRole(role(RoleState.Failed), 'job cancelled', 1)).toBeUndefined();
    expect(retireRole(role(RoleState.Done), 'job cancelled', 1)).toBeUndefined();
  });
});

describe('roles', () => {
  it('lists the ps shards first, then the workers, with tokens', () => {
    const roles = initialRoles({ cluster: { workers: 2, ps: 2 } }, 3);
    expect(roles.map((r) => r.role)).toEqual(['ps-0', 'ps-1', 'worker-0', 'worker-1']);
    expect(tokenOf('job-1', roles[3]!)).toEqual({
      jobId: 'job-1',
      generation: 3,
      role: 'worker-1',
      attempt: 0,
    });
  });

  it('parses role names and refuses others', () => {
    expect(parseRoleName(roleName('worker', 12))).toEqual({ kind: 'worker', index: 12 });
    expect(parseRoleName('ps-0')).toEqual({ kind: 'ps', index: 0 });
    expect(parseRoleName('chief-0')).toBeUndefined();
    expect(() => roleName('ps', -1)).toThrow(/out of range/);
  });

  it('keeps the newest incarnation of each role', () => {
    const [ps, worker] = initialRoles({ cluster: { workers: 1, ps: 1 } }, 0);
    const retried = { ...worker!, attempt: 2 };
    const regenerated = { ...ps!, generation: 1 };
    expect(currentRoles([worker!, retried, ps!, regenerated])).toEqual([regenerated, retried]);
  });
});
