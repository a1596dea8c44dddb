import { compareFencing, DlnError, ErrorCode, FencingToken } from '@dln/contracts';

/** A request carried a token the receiver must refuse (stale incarnation, other job). */
export class FencedError extends DlnError {
  constructor(
    message: string,
    /** True when the request is NEWER than the receiver: the receiver itself is superseded. */
    readonly receiverSuperseded = false,
  ) {
    super(ErrorCode.Fenced, message, { retryable: false });
  }
}

/**
 * What a role knows about the incarnations that talk to it: its own job and generation, and the
 * latest attempt seen per peer role. Anything older is refused; a newer attempt of a peer
 * replaces the old one (`admit` returns true so the caller can drop what the old one left).
 */
export class FencingGuard {
  private readonly attempts = new Map<string, number>();

  constructor(readonly own: FencingToken) {}

  /** Throws FencedError for a refused token; true when this is a new attempt of the peer. */
  admit(incoming: FencingToken): boolean {
    if (incoming.jobId !== this.own.jobId) {
      throw new FencedError(
        `token of job ${incoming.jobId} sent to a role of job ${this.own.jobId}`,
      );
    }
    const generation = compareFencing(
      { ...this.own, attempt: 0 },
      { ...incoming, role: this.own.role, attempt: 0 },
    );
    if (generation === 'stale') {
      throw new FencedError(
        `${incoming.role} of generation ${incoming.generation} is stale (the job is at generation ${this.own.generation})`,
      );
    }
    if (generation === 'newer') {
      throw new FencedError(
        `${this.own.role} of generation ${this.own.generation} is superseded by generation ${incoming.generation}`,
        true,
      );
    }
    if (incoming.role === this.own.role && incoming.attempt !== this.own.attempt) {
      // A newer attempt of this very role announces itself: this incarnation is superseded.
      const newer = incoming.attempt > this.own.attempt;
      throw new FencedError(
        newer
          ? `${this.own.role} attempt ${this.own.attempt} is superseded by attempt ${incoming.attempt}`
          : `${incoming.role} attempt ${incoming.attempt} is superseded by attempt ${this.own.attempt}`,
        newer,
      );
    }
    const known = this.attempts.get(incoming.role);
    if (known !== undefined && incoming.attempt < known) {
      throw new FencedError(
        `${incoming.role} attempt ${incoming.attempt} is superseded by attempt ${known}`,
      );
    }
    this.attempts.set(incoming.role, incoming.attempt);
    return known !== undefined && incoming.attempt > known;
  }

  /**
   * A notice says `by` replaced its role (or the role's own new token arrived): every older
   * attempt is refused from now on. True when this raised the known attempt.
   */
  supersede(by: FencingToken): boolean {
    if (by.jobId !== this.own.jobId || by.generation !== this.own.generation) return false;
    const known = this.attempts.get(by.role);
    if (known !== undefined && known >= by.attempt) return false;
    this.attempts.set(by.role, by.attempt);
    return true;
  }

  /** The latest attempt seen of each peer role (for checkpoints). */
  knownAttempts(): Record<string, number> {
    return Object.fromEntries(this.attempts);
  }
}

/** The index N of a `worker-N` / `ps-N` role name. */
export function roleIndex(role: string): number {
  const match = /^(?:worker|ps)-([0-9]{1,4})$/.exec(role);
  if (!match) throw new DlnError(ErrorCode.InvalidRequest, `"${role}" is not a role name`);
  return Number(match[1]);
}
