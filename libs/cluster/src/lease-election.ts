import { LeaseRecord, LeaseState, LeaseView } from '@dln/contracts';
import { randomUUID } from 'node:crypto';
import type { Clock } from './clock';

/** The lease key as read: its value and the revision a compare-and-set is made on. */
export interface LeaseEntry {
  record: LeaseRecord;
  revision: number;
}

/** Where the lease lives (NATS KV in @dln/messaging). A throw means "outcome unknown". */
export interface LeaseStore {
  /** The current entry, or undefined when the key is absent (never written, expired, deleted). */
  read(): Promise<LeaseEntry | undefined>;
  /** Writes only when the key is absent: the new revision, or undefined when it is present. */
  create(record: LeaseRecord): Promise<number | undefined>;
  /** Writes only when `revision` is still the last: the new revision, or undefined if not. */
  update(record: LeaseRecord, revision: number): Promise<number | undefined>;
  /** Deletes the key only when `revision` is still the last; whether it did. */
  remove(revision: number): Promise<boolean>;
}

export interface LeaseElectionOptions {
  id: string;
  url?: string;
  leaseMs: number;
  store: LeaseStore;
  clock: Clock;
  /** The holder stops acting this long before a standby may take over (default leaseMs / 10). */
  guardMs?: number;
  /** A standby reads the key this often; failed renewals are retried this often (default leaseMs / 10). */
  pollMs?: number;
}

export type LeaseListener = (state: LeaseState, reason: string) => void;

interface Held {
  term: string;
  acquiredAt: string;
  revision: number;
  /** When the write behind `revision` was sent: every expiry a standby computes is later. */
  renewedAt: number;
}

/**
 * One AM's side of the lease. The holder renews every leaseMs / 3 with a compare-and-set on the
 * revision it wrote last and stops acting at renewedAt + leaseMs - guard; a standby takes over
 * only once the revision it sees has stayed unchanged for the holder's leaseMs from when it first
 * saw it (or the key is gone). As a write is seen only after it was sent, the holder's deadline
 * always comes before a standby's takeover: never two actives. No clock is compared across hosts.
 */
export class LeaseElection {
  readonly id: string;
  readonly leaseMs: number;
  readonly guardMs: number;
  readonly pollMs: number;
  private current: LeaseState = LeaseState.Standby;
  private held: Held | undefined;
  /** Earliest send time of a write of ours whose outcome is unknown, and its term. */
  private unconfirmed: { term: string; acquiredAt: string; sentAt: number } | undefined;
  private seen: { revision: number; seenAt: number; record: LeaseRecord } | undefined;
  private lastAttemptAt: number;
  private readonly listeners: LeaseListener[] = [];

  constructor(private readonly options: LeaseElectionOptions) {
    const { leaseMs } = options;
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 100)
      throw new Error('leaseMs must be an integer >= 100');
    this.id = options.id;
    this.leaseMs = leaseMs;
    this.guardMs = options.guardMs ?? Math.floor(leaseMs / 10);
    this.pollMs = options.pollMs ?? Math.max(20, Math.floor(leaseMs / 10));
    if (!(this.guardMs >= 0 && this.guardMs < leaseMs / 3))
      throw new Error('guardMs must be in [0, leaseMs / 3)');
    if (!(this.pollMs > 0 && this.pollMs <= leaseMs))
      throw new Error('pollMs must be in (0, leaseMs]');
    this.lastAttemptAt = options.clock.now() - this.pollMs;
  }

  /**
   * Past the holder's deadline this is Standby even before the loop's deadline timer fires (a
   * late timer, a stopped loop): whoever asks never sees two actives.
   */
  get state(): LeaseState {
    this.checkDeadline();
    return this.current;
  }

  onChange(listener: LeaseListener): void {
    this.listeners.push(listener);
  }

  /** When the holder must have stopped acting; undefined while standby. */
  deadline(): number | undefined {
    return this.held && this.held.renewedAt + this.leaseMs - this.guardMs;
  }

  /** When `tick` is due next (clock time). */
  nextTickAt(): number {
    if (!this.held) return this.lastAttemptAt + this.pollMs;
    const next = this.unconfirmed
      ? this.lastAttemptAt + this.pollMs
      : this.held.renewedAt + Math.floor(this.leaseMs / 3);
    return Math.min(next, this.deadline() ?? next);
  }

  view(): LeaseView {
    this.checkDeadline();
    const holder = this.held
      ? { id: this.id, url: this.options.url ?? null }
      : this.seen && { id: this.seen.record.holderId, url: this.seen.record.url ?? null };
    return { state: this.current, self: this.id, holder: holder ?? null, leaseMs: this.leaseMs };
  }

  /** Steps down when the deadline has passed without a renewal; true if it did. */
  checkDeadline(): boolean {
    const deadline = this.deadline();
    if (deadline === undefined || this.options.clock.now() < deadline) return false;
    this.stepDown('lease not renewed before its deadline');
    return true;
  }

  /** One step: the holder renews, a standby reads the key and takes an expired lease. */
  async tick(): Promise<LeaseState> {
    if (this.held) await this.renew(this.held);
    else await this.watch();
    return this.current;
  }

  /**
   * Gives the lease up on a clean shutdown, once this AM has stopped acting: a standby takes it
   * at its next read instead of after the lease. Steps down first, whatever the outcome.
   */
  async release(): Promise<boolean> {
    const held = this.held;
    if (!held) return false;
    const landedUnseen = this.unconfirmed !== undefined;
    this.stepDown('released');
    if (landedUnseen) return false; // the last revision may not be ours to delete: let it expire
    return this.options.store.remove(held.revision).catch(() => false);
  }

  private async renew(held: Held): Promise<void> {
    if (this.checkDeadline()) return;
    const sentAt = this.attempt();
    let revision: number | undefined;
    try {
      revision = await this.options.store.update(
        this.record(held.term, held.acquiredAt),
        held.revision,
      );
    } catch {
      if (this.held === held)
        this.unconfirmed ??= { term: held.term, acquiredAt: held.acquiredAt, sentAt };
      return;
    }
    if (this.held !== held) return; // stepped down while the write was in flight
    if (revision !== undefined) return this.hold({ ...held, revision, renewedAt: sentAt });
    // Refused: someone wrote after our last known revision; it may be our own unconfirmed write.
    const entry = await this.options.store.read().catch(() => undefined);
    if (this.held !== held) return;
    if (entry?.record.term === held.term && this.unconfirmed) {
      return this.hold({ ...held, revision: entry.revision, renewedAt: this.unconfirmed.sentAt });
    }
    this.stepDown('another AM wrote the lease');
    if (entry)
      this.seen = {
        revision: entry.revision,
        seenAt: this.options.clock.now(),
        record: entry.record,
      };
  }

  private async watch(): Promise<void> {
    const now = this.attempt();
    let entry: LeaseEntry | undefined;
    try {
      entry = await this.options.store.read();
    } catch {
      return;
    }
    if (entry === undefined) {
      this.seen = undefined;
      return this.acquire(undefined);
    }
    const mine = this.unconfirmed;
    if (mine && entry.record.term === mine.term) {
      // A takeover of ours whose reply was lost went through: hold it if there is time left.
      if (now < mine.sentAt + this.leaseMs - this.guardMs) {
        return this.hold({ ...mine, revision: entry.revision, renewedAt: mine.sentAt });
      }
    }
    if (this.seen?.revision !== entry.revision) {
      this.seen = { revision: entry.revision, seenAt: now, record: entry.record };
      this.unconfirmed = undefined;
    }
    if (now >= this.seen.seenAt + this.seen.record.leaseMs) await this.acquire(entry.revision);
  }

  private async acquire(revision: number | undefined): Promise<void> {
    const term = randomUUID();
    const acquiredAt = new Date().toISOString();
    const sentAt = this.options.clock.now();
    const record = this.record(term, acquiredAt);
    let written: number | undefined;
    try {
      written =
        revision === undefined
          ? await this.options.store.create(record)
          : await this.options.store.update(record, revision);
    } catch {
      this.unconfirmed = { term, acquiredAt, sentAt };
      return;
    }
    if (written !== undefined)
      this.hold({ term, acquiredAt, revision: written, renewedAt: sentAt });
  }

  private hold(held: Held): void {
    const wasActive = this.held !== undefined;
    this.held = {
      term: held.term,
      acquiredAt: held.acquiredAt,
      revision: held.revision,
      renewedAt: held.renewedAt,
    };
    this.unconfirmed = undefined;
    this.seen = undefined;
    if (!wasActive) this.change(LeaseState.Active, 'lease acquired');
  }

  private stepDown(reason: string): void {
    this.held = undefined;
    this.unconfirmed = undefined;
    this.seen = undefined;
    this.change(LeaseState.Standby, reason);
  }

  private change(state: LeaseState, reason: string): void {
    this.current = state;
    for (const listener of this.listeners) listener(state, reason);
  }

  private attempt(): number {
    this.lastAttemptAt = this.options.clock.now();
    return this.lastAttemptAt;
  }

  private record(term: string, acquiredAt: string): LeaseRecord {
    const { url } = this.options;
    return {
      holderId: this.id,
      ...(url !== undefined ? { url } : {}),
      leaseMs: this.leaseMs,
      term,
      acquiredAt,
    };
  }
}
