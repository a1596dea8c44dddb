import type { NatsConnection } from '@nats-io/transport-node';

/** What `Reconnects.next()` resolves to, for racing it against a request. */
export const RECONNECTED = Symbol('reconnected');

/**
 * The connection's reconnects as promises. A request sent just before NATS restarted is lost
 * with its server (or its reply is): whoever waits on one asks again at the reconnect instead of
 * waiting out its timeout. One status watcher per instance, ending when the connection closes.
 */
export class Reconnects {
  private upcoming: Promise<typeof RECONNECTED>;
  private wake: () => void = () => undefined;

  constructor(private readonly nc: NatsConnection) {
    this.upcoming = this.arm();
    void this.watch();
  }

  /** Settles at the next reconnect. */
  next(): Promise<typeof RECONNECTED> {
    return this.upcoming;
  }

  private arm(): Promise<typeof RECONNECTED> {
    return new Promise((resolve) => {
      this.wake = () => resolve(RECONNECTED);
    });
  }

  private async watch(): Promise<void> {
    try {
      for await (const status of this.nc.status()) {
        if (status.type !== 'reconnect') continue;
        const wake = this.wake;
        this.upcoming = this.arm();
        wake();
      }
    } catch {
      // the connection closed: no reconnect will come
    }
  }
}
