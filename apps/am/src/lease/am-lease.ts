import { LeaseElection, LeaseLoop, monotonicClock } from '@dln/cluster';
import { AM_LEASE_KEY, LeaseState, LeaseView, Subjects } from '@dln/contracts';
import { connectNats, KvLeaseStore, NatsConnection } from '@dln/messaging';
import type { AmConfig } from '../am.config';

/** DI token of the process's AmLease (standby and active apps show it in /health). */
export const AM_LEASE = Symbol('AM_LEASE');

/**
 * The lease of one AM process (issue 4, part 5): its own NATS connection, so that renewals
 * never queue behind the service's traffic and the lease outlives the standby app that is
 * closed when this process becomes active.
 */
export class AmLease {
  private lost: ((reason: string) => void) | undefined;

  private constructor(
    private readonly nats: NatsConnection,
    private readonly election: LeaseElection,
    private readonly loop: LeaseLoop,
  ) {}

  static async open(config: AmConfig, onError: (error: unknown) => void): Promise<AmLease> {
    const nats = await connectNats({
      servers: config.NATS_URL,
      name: `am-lease-${config.AM_ID}`,
      user: config.NATS_USER,
      pass: config.NATS_PASSWORD,
      token: config.NATS_TOKEN,
    });
    const leaseMs = config.AM_LEASE_MS;
    const store = await KvLeaseStore.open(nats, {
      bucket: new Subjects(config.SUBJECT_ROOT).bucket('lease'),
      key: AM_LEASE_KEY,
      leaseMs,
      requestTimeoutMs: Math.floor(leaseMs / 3),
    });
    const election = new LeaseElection({
      id: config.AM_ID,
      ...(config.AM_ADVERTISED_URL !== undefined ? { url: config.AM_ADVERTISED_URL } : {}),
      leaseMs,
      store,
      clock: monotonicClock,
    });
    const lease = new AmLease(nats, election, new LeaseLoop(election, monotonicClock, onError));
    election.onChange((state, reason) => {
      if (state === LeaseState.Standby) lease.lost?.(reason);
    });
    return lease;
  }

  get state(): LeaseState {
    return this.election.state;
  }

  view(): LeaseView {
    return this.election.view();
  }

  /** Starts the election; resolves when this AM holds the lease. */
  async acquire(): Promise<void> {
    const acquired = new Promise<void>((resolve) =>
      this.election.onChange((state) => {
        if (state === LeaseState.Active) resolve();
      }),
    );
    this.loop.start();
    await acquired;
  }

  /** Called synchronously, at once, when the held lease is lost (deadline passed or taken). */
  onLost(listener: (reason: string) => void): void {
    this.lost = listener;
  }

  /** Gives the lease up once the AM has stopped acting (clean shutdown): no takeover wait. */
  async release(): Promise<boolean> {
    await this.loop.stop();
    this.lost = undefined;
    const released = await this.election.release();
    await this.nats.close();
    return released;
  }

  async close(): Promise<void> {
    await this.loop.stop();
    await this.nats.close();
  }
}
