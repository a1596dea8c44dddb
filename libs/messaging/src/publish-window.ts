import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { Slots } from './publish-slots';

/** One JetStream message: its subject and payload, its de-duplication id and headers if any. */
export interface OutgoingMessage {
  subject: string;
  data: Uint8Array | string;
  /** `Nats-Msg-Id`: the stream stores one message per id within its duplicate window. */
  msgID?: string;
  headers?: MsgHdrs;
}

/** What acknowledged messages came to: newly stored, or recognised as duplicates by their msgID. */
export interface PublishOutcome {
  stored: number;
  duplicates: number;
}

/** The one call a window makes: a JetStream client, or anything that publishes like one. */
export type JetStreamPublisher = Pick<JetStreamClient, 'publish'>;

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * JetStream publishes with a bounded number of acks outstanding (PERFORMANCE.md: awaiting each
 * ack is ~6x slower than keeping 256 in flight). One window can be shared by concurrent callers
 * (all requests of a service, say): each caller publishes through its own `batch()`, which keeps
 * its counts and its first failure, while the window bounds the acks outstanding of all of them
 * and serves callers waiting for a slot in order. Waiting costs one promise per wait; an ack
 * hands its slot to the next waiter directly, with no race over the pending publishes.
 */
export class PublishWindow {
  private readonly slots: Slots;

  constructor(
    private readonly js: JetStreamPublisher,
    limit: number,
  ) {
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new RangeError(`a publish window needs a limit that is an integer >= 1, got ${limit}`);
    this.slots = new Slots(limit);
  }

  get limit(): number {
    return this.slots.limit;
  }

  /** Publishes sent and not yet acknowledged (past the limit only through `PublishBatch.send`). */
  get inFlight(): number {
    return this.slots.taken;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.slots.waiting;
  }

  /** A caller's own share of the window: its counts, its first failure, its flush. */
  batch(): PublishBatch {
    return new PublishBatch(this.js, this.slots);
  }
}

/**
 * One caller's messages through a shared `PublishWindow`. A failed publish is reported to this
 * batch only: its next `publish` or `room` rejects with the first failure (sending nothing more),
 * and so does `flush`, once every message already sent is settled.
 */
export class PublishBatch {
  private counts: PublishOutcome = { stored: 0, duplicates: 0 };
  private sent = 0;
  private unsettled = 0;
  private failed = false;
  private firstFailure: unknown;
  private drained: Promise<void> | undefined;
  private wakeDrained: (() => void) | undefined;

  constructor(
    private readonly js: JetStreamPublisher,
    private readonly slots: Slots,
  ) {}

  /** Acknowledged messages so far. */
  get outcome(): PublishOutcome {
    return { ...this.counts };
  }

  /** Messages handed to JetStream so far. */
  get attempted(): number {
    return this.sent;
  }

  /** Messages sent or waiting for a slot, not yet acknowledged or failed. */
  get pending(): number {
    return this.unsettled;
  }

  get hasFailed(): boolean {
    return this.failed;
  }

  /** The first publish failure of this batch, if any. */
  get failure(): unknown {
    return this.firstFailure;
  }

  /**
   * Sends `message` as soon as the window has a free slot: at once when it has one, otherwise
   * behind the callers already waiting. Rejects, sending nothing, once this batch has failed.
   */
  publish(message: OutgoingMessage): Promise<void> {
    if (this.failed) return Promise.reject(this.firstFailure);
    this.unsettled += 1;
    if (this.slots.tryTake()) {
      this.dispatch(message);
      return RESOLVED;
    }
    return new Promise<void>((resolve, reject) => {
      this.slots.wait(() => {
        if (!this.failed) {
          this.dispatch(message);
          return resolve();
        }
        this.slots.free();
        this.settle();
        reject(this.firstFailure);
      });
    });
  }

  /**
   * Sends the messages `next` returns until it returns undefined, pulling each one only when the
   * window has a slot for it, and as many at a time as there are free slots: a burst goes out in
   * one write, where awaiting `publish` per message costs a turn of the event loop each (and, as
   * measured with ingest's records, 0.6x the throughput). Resolves once `next` returned undefined
   * (`flush` waits for the acks); rejects with what `next` threw, or with this batch's first
   * failure, pulling nothing more.
   */
  publishFrom(next: () => OutgoingMessage | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // Called holding a slot; sends and goes on while slots are free.
      const fill = (): void => {
        for (;;) {
          if (this.failed) return this.giveUp(reject, this.firstFailure);
          let message: OutgoingMessage | undefined;
          try {
            message = next();
          } catch (err) {
            return this.giveUp(reject, err);
          }
          if (message === undefined) {
            this.slots.free();
            return resolve();
          }
          this.unsettled += 1;
          this.dispatch(message);
          if (!this.slots.tryTake()) return this.slots.wait(fill);
        }
      };
      if (this.slots.tryTake()) fill();
      else this.slots.wait(fill);
    });
  }

  /**
   * Sends `message` now, even past the window's limit: for a caller that must hand over several
   * messages without waiting, and bounds itself with `room()`. Failures surface at `room` and
   * `flush`.
   */
  send(message: OutgoingMessage): void {
    this.unsettled += 1;
    this.slots.force();
    this.dispatch(message);
  }

  /** Resolves once the window has a free slot (behind earlier waiters); rejects once this batch has failed. */
  async room(): Promise<void> {
    if (!this.failed && this.slots.full) {
      await new Promise<void>((resolve) =>
        this.slots.wait(() => {
          this.slots.free();
          resolve();
        }),
      );
    }
    if (this.failed) throw this.firstFailure;
  }

  /** Waits until every message of this batch is settled; returns the counts or throws the first failure. */
  async flush(): Promise<PublishOutcome> {
    if (this.unsettled > 0) {
      this.drained ??= new Promise<void>((resolve) => (this.wakeDrained = resolve));
      await this.drained;
    }
    if (this.failed) throw this.firstFailure;
    return this.outcome;
  }

  private giveUp(reject: (reason: unknown) => void, reason: unknown): void {
    this.slots.free();
    reject(reason);
  }

  private dispatch(message: OutgoingMessage): void {
    this.sent += 1;
    const options: { msgID?: string; headers?: MsgHdrs } = {};
    if (message.msgID !== undefined) options.msgID = message.msgID;
    if (message.headers !== undefined) options.headers = message.headers;
    this.js.publish(message.subject, message.data, options).then(this.onAck, this.onError);
  }

  private readonly onAck = (ack: PubAck): void => {
    if (ack.duplicate) this.counts.duplicates += 1;
    else this.counts.stored += 1;
    this.slots.free();
    this.settle();
  };

  private readonly onError = (err: unknown): void => {
    if (!this.failed) {
      this.failed = true;
      this.firstFailure = err;
    }
    this.slots.free();
    this.settle();
  };

  private settle(): void {
    this.unsettled -= 1;
    if (this.unsettled > 0 || !this.wakeDrained) return;
    const wake = this.wakeDrained;
    this.drained = undefined;
    this.wakeDrained = undefined;
    wake();
  }
}
