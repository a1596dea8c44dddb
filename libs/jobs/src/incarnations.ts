import { compareFencing, FencingToken, RoleState } from '@dln/contracts';
import { currentRoles, RoleRecord, tokenOf } from './roles';

export type IncarnationMatch =
  | { verdict: 'current'; role: RoleRecord }
  | { verdict: 'stale' | 'newer'; current: RoleRecord }
  | { verdict: 'unknown' };

/**
 * Judges a message's token against the job's records: `current` when it is the role's current
 * incarnation; `stale` for a superseded attempt or an older generation (ignored, or refused with
 * FENCED); `newer` for a token the AM never issued; `unknown` for a role the job does not have.
 */
export function matchIncarnation(
  jobId: string,
  records: readonly RoleRecord[],
  token: FencingToken,
): IncarnationMatch {
  if (token.jobId !== jobId) return { verdict: 'unknown' };
  const current = currentRoles(records).find((candidate) => candidate.role === token.role);
  if (!current) return { verdict: 'unknown' };
  const verdict = compareFencing(tokenOf(jobId, current), token);
  return verdict === 'current' ? { verdict, role: current } : { verdict, current };
}

/**
 * Whether a process running with `token` should keep running: only the current incarnation of
 * an active job's role that is placed and not ended (PENDING with a node: its assignment is on
 * the way). Anything else a node reports is an orphan to stop.
 */
export function isWantedProcess(
  jobId: string,
  records: readonly RoleRecord[] | undefined,
  token: FencingToken,
): boolean {
  if (!records) return false;
  const match = matchIncarnation(jobId, records, token);
  if (match.verdict !== 'current') return false;
  const { role } = match;
  return (
    role.state === RoleState.Assigned ||
    role.state === RoleState.Running ||
    (role.state === RoleState.Pending && role.nodeId !== null)
  );
}

/**
 * Tells from the nodes' heartbeats whether a live role's process still exists (the re-adoption
 * after an AM restart, and a role a restarted node no longer runs). A role is seen when it is
 * placed, reloaded, or listed in a heartbeat of its node; it is missing once its node sent a
 * heartbeat more than `graceMs` after the role was last seen without listing it.
 */
export class RoleSightings {
  private readonly lastSeen = new Map<string, number>();

  constructor(private readonly graceMs: number) {
    if (!Number.isFinite(graceMs) || graceMs < 0) throw new Error('graceMs must be >= 0');
  }

  /** The role was placed or reloaded at `at`: it gets a full grace from there. */
  expect(key: string, at: number): void {
    this.lastSeen.set(key, at);
  }

  /**
   * One look at a live role: `listed` when the node's latest heartbeat (sent at `heartbeatAt`,
   * null if none yet) lists it. True when the role is missing.
   */
  check(key: string, listed: boolean, heartbeatAt: number | null, now: number): boolean {
    const seen = this.lastSeen.get(key);
    if (seen === undefined) {
      this.lastSeen.set(key, listed && heartbeatAt !== null ? heartbeatAt : now);
      return false;
    }
    if (listed) {
      if (heartbeatAt !== null && heartbeatAt > seen) this.lastSeen.set(key, heartbeatAt);
      return false;
    }
    return heartbeatAt !== null && heartbeatAt - seen > this.graceMs;
  }

  /** The role ended: nothing more to watch. */
  forget(key: string): void {
    this.lastSeen.delete(key);
  }

  /** Drops every key not in `live` (ended roles). */
  retain(live: ReadonlySet<string>): void {
    for (const key of [...this.lastSeen.keys()]) if (!live.has(key)) this.lastSeen.delete(key);
  }
}
