/** Time source of the registry and supervisor, injectable so tests control it exactly. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to; for tests of time-dependent logic. */
export class ManualClock implements Clock {
  constructor(private current = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new Error('a clock only moves forward');
    this.current += ms;
    return this.current;
  }

  set(ms: number): void {
    if (ms < this.current) throw new Error('a clock only moves forward');
    this.current = ms;
  }
}
