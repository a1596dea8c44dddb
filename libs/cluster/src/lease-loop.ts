import type { Clock } from './clock';
import type { LeaseElection } from './lease-election';

/** Milliseconds that never jump with wall-clock corrections: what lease timing must use. */
export const monotonicClock: Clock = { now: () => performance.timeOrigin + performance.now() };

/**
 * Drives a LeaseElection with timers: one tick at a time, each when it is due, and a separate
 * timer at the holder's deadline, so the holder steps down on time even while a renewal hangs.
 */
export class LeaseLoop {
  private tickTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private running = false;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly election: LeaseElection,
    private readonly clock: Clock,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops the timers and waits for a tick in flight (the lease itself is left to expire). */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.tickTimer);
    clearTimeout(this.deadlineTimer);
    await this.inFlight;
  }

  private schedule(delayMs: number): void {
    this.tickTimer = setTimeout(() => {
      this.inFlight = this.runTick();
    }, delayMs);
  }

  private async runTick(): Promise<void> {
    try {
      await this.election.tick();
    } catch (error) {
      this.onError(error);
    }
    if (!this.running) return;
    this.armDeadline();
    this.schedule(Math.max(0, this.election.nextTickAt() - this.clock.now()));
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    const deadline = this.election.deadline();
    if (deadline === undefined) return;
    this.deadlineTimer = setTimeout(
      () => {
        try {
          this.election.checkDeadline();
        } catch (error) {
          this.onError(error);
        }
      },
      Math.max(0, deadline - this.clock.now()),
    );
  }
}
