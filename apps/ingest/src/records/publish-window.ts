/**
 * The service-wide bound on JetStream publishes awaiting their ack (INGEST_PUBLISH_IN_FLIGHT),
 * shared by every request: concurrent requests keep the stream busy without ever exceeding it,
 * and a burst of requests cannot pile up unbounded publishes.
 */
export class PublishWindow {
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly limit: number) {}

  get used(): number {
    return this.inFlight;
  }

  tryAcquire(): boolean {
    if (this.inFlight >= this.limit) return false;
    this.inFlight += 1;
    return true;
  }

  /**
   * Frees a slot and wakes waiting publishers, longest-waiting first, until the window is full
   * again (a woken publisher that has nothing left to send passes the slot on).
   */
  release(): void {
    this.inFlight -= 1;
    while (this.inFlight < this.limit) {
      const wake = this.waiters.shift();
      if (!wake) return;
      wake();
    }
  }

  /** `wake` runs once, when a slot is freed. */
  wait(wake: () => void): void {
    this.waiters.push(wake);
  }
}
