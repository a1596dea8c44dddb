import { RoleState } from '@dln/contracts';
import { describe, expect, it } from 'vitest';
import { isWantedProcess, matchIncarnation, RoleSightings } from './incarnations';
import { initialRoles, RoleRecord } from './roles';

/** worker-0: generation 1, attempts 0 (superseded) and 1 (current, running). */
function records(): RoleRecord[] {
  const [gen0] = initialRoles({ cluster: { workers: 1, ps: 0 } }, 0);
  const [gen1] = initialRoles({ cluster: { workers: 1, ps: 0 } }, 1);
  return [
    { ...gen0!, state: RoleState.Superseded },
    { ...gen1!, state: RoleState.Superseded, nodeId: 'w1' },
    { ...gen1!, attempt: 1, state: RoleState.Running, nodeId: 'w2' },
  ];
}
const token = (generation: number, attempt: number, role = 'worker-0', jobId = 'j1') => ({
  jobId,
  generation,
  role,
  attempt,
});

describe('matchIncarnation', () => {
  it('accepts the current incarnation only', () => {
    const match = matchIncarnation('j1', records(), token(1, 1));
    expect(match).toMatchObject({ verdict: 'current', role: { attempt: 1, nodeId: 'w2' } });
  });

  it('judges a superseded attempt and an old generation stale, an unissued token newer', () => {
    expect(matchIncarnation('j1', records(), token(1, 0)).verdict).toBe('stale');
    expect(matchIncarnation('j1', records(), token(0, 5)).verdict).toBe('stale');
    expect(matchIncarnation('j1', records(), token(1, 2)).verdict).toBe('newer');
    expect(matchIncarnation('j1', records(), token(2, 0)).verdict).toBe('newer');
  });

  it('knows neither a role the job does not have nor another job', () => {
    expect(matchIncarnation('j1', records(), token(1, 1, 'ps-0')).verdict).toBe('unknown');
    expect(matchIncarnation('j1', records(), token(1, 1, 'worker-0', 'j2')).verdict).toBe(
      'unknown',
    );
  });
});

describe('isWantedProcess', () => {
  it('keeps the current placed incarnation of an active job, nothing else', () => {
    const all = records();
    expect(isWantedProcess('j1', all, token(1, 1))).toBe(true);
    expect(isWantedProcess('j1', all, token(1, 0))).toBe(false); // superseded attempt
    expect(isWantedProcess('j1', all, token(0, 0))).toBe(false); // old generation
    expect(isWantedProcess('j1', undefined, token(1, 1))).toBe(false); // job final or unknown
    const current = all[2]!;
    for (const [state, nodeId, wanted] of [
      [RoleState.Pending, 'w2', true],
      [RoleState.Pending, null, false],
      [RoleState.Assigned, 'w2', true],
      [RoleState.Done, 'w2', false],
      [RoleState.Failed, 'w2', false],
      [RoleState.Lost, 'w2', false],
    ] as const) {
      current.state = state;
      current.nodeId = nodeId;
      expect(isWantedProcess('j1', all, token(1, 1)), `${state} ${nodeId}`).toBe(wanted);
    }
  });
});

describe('RoleSightings', () => {
  it('declares a role missing once its node heartbeats past the grace without it', () => {
    const sightings = new RoleSightings(500);
    sightings.expect('a', 1000);
    expect(sightings.check('a', false, null, 5000)).toBe(false); // no heartbeat yet
    expect(sightings.check('a', false, 1400, 1400)).toBe(false); // within the grace
    expect(sightings.check('a', true, 1600, 1600)).toBe(false); // listed: seen at 1600
    expect(sightings.check('a', false, 2000, 2000)).toBe(false);
    expect(sightings.check('a', false, 2101, 2101)).toBe(true);
    sightings.expect('a', 3000); // placed again: a fresh grace
    expect(sightings.check('a', false, 3200, 3200)).toBe(false);
  });

  it('starts watching an unknown role from now and forgets ended ones', () => {
    const sightings = new RoleSightings(100);
    expect(sightings.check('b', false, 50, 1000)).toBe(false);
    expect(sightings.check('b', false, 1050, 1050)).toBe(false);
    expect(sightings.check('b', false, 1101, 1101)).toBe(true);
    sightings.retain(new Set());
    expect(sightings.check('b', false, 1200, 1200)).toBe(false);
    expect(() => new RoleSightings(Number.NaN)).toThrow(/graceMs/);
  });
});
