import type { PubAck } from '@nats-io/jetstream';
import {
  createInbox,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import type { JetStreamPublisher } from './publish-window';

const utf8 = new TextDecoder();

interface Waiter {
  resolve: (ack: PubAck) => void;
  reject: (error: Error) => void;
  subject: string;
  deadline: number;
}

/** A JetStream publish that was refused, not acknowledged in time, or had no stream to take it. */
export class JetStreamPublishError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'JetStreamPublishError';
  }
}

/**
 * JetStream publishes whose acks all come back on ONE subscription (`<inbox>.<n>`), for
 * publishers that send many small messages (a scorer's predictions). The client's own
 * `js.publish` makes a request per message: a mux entry, a timer, and an Error with a captured
 * stack each time it settles (nats-core's RequestOne.cancel), which profiled at ~30% of the
 * publish cost. Here a message costs one `nc.publish` and one map entry; one interval expires
 * the acks not back within `timeoutMs`, in publish order. Usable wherever a
 * `JetStreamPublisher` is (PublishWindow). Supports `msgID` and headers; no expectations.
 */
export class JetStreamAcks implements JetStreamPublisher {
  private readonly prefix: string;
  private readonly subscription: Subscription;
  private readonly waiting = new Map<number, Waiter>();
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5_000,
  ) {
    this.prefix = `${createInbox()}.`;
    this.subscription = nc.subscribe(`${this.prefix}*`, {
      callback: (error, msg) => {
        if (!error) this.onAck(msg);
      },
    });
    this.sweeper = setInterval(() => this.expire(), Math.max(50, Math.min(1_000, timeoutMs / 4)));
    this.sweeper.unref();
  }

  /** Acks not back yet. */
  get pending(): number {
    return this.waiting.size;
  }

  publish(
    subject: string,
    data?: Uint8Array | string,
    options?: { msgID?: string; headers?: MsgHdrs },
  ): Promise<PubAck> {
    if (this.closed)
      return Promise.reject(new JetStreamPublishError('the ack inbox is closed', false));
    const id = (this.next += 1);
    let headers = options?.headers;
    if (options?.msgID !== undefined) {
      headers ??= natsHeaders();
      headers.set('Nats-Msg-Id', options.msgID);
    }
    return new Promise<PubAck>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, subject, deadline: Date.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, data, {
          reply: `${this.prefix}${id}`,
          ...(headers ? { headers } : {}),
        });
      } catch (error) {
        this.waiting.delete(id);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** Stops listening; acks still outstanding fail (retryable). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.subscription.unsubscribe();
    for (const waiter of this.waiting.values())
      waiter.reject(
        new JetStreamPublishError(`no ack from ${waiter.subject}: the ack inbox closed`, true),
      );
    this.waiting.clear();
  }

  private onAck(msg: Msg): void {
    const id = Number(msg.subject.slice(this.prefix.length));
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    this.waiting.delete(id);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      waiter.reject(new JetStreamPublishError(`no JetStream stream takes ${waiter.subject}`, true));
      return;
    }
    let ack: {
      stream?: string;
      seq?: number;
      duplicate?: boolean;
      domain?: string;
      error?: { description?: string; code?: number };
    };
    try {
      ack = JSON.parse(utf8.decode(msg.data)) as typeof ack;
    } catch {
      waiter.reject(new JetStreamPublishError(`unreadable ack from ${waiter.subject}`, false));
      return;
    }
    if (ack.error || typeof ack.stream !== 'string' || typeof ack.seq !== 'number') {
      waiter.reject(
        new JetStreamPublishError(
          `JetStream refused the message on ${waiter.subject}: ${ack.error?.description ?? 'invalid ack'}`,
          (ack.error?.code ?? 0) >= 500,
        ),
      );
      return;
    }
    waiter.resolve({
      stream: ack.stream,
      seq: ack.seq,
      duplicate: ack.duplicate === true,
      ...(ack.domain !== undefined ? { domain: ack.domain } : {}),
    } as PubAck);
  }

  /** Fails the acks past their deadline; the map is in publish order, so it stops at the first live one. */
  private expire(): void {
    const now = Date.now();
    for (const [id, waiter] of this.waiting) {
      if (waiter.deadline > now) break;
      this.waiting.delete(id);
      waiter.reject(
        new JetStreamPublishError(
          `no ack from ${waiter.subject} within ${this.timeoutMs} ms`,
          true,
        ),
      );
    }
  }
}
