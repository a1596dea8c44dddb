import { ConsumerMessages, jetstream, jetstreamManager, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

/** Batches a worker keeps pulled ahead of its model: the next one is local when the model is done. */
export const INFERENCE_PREFETCH_BATCHES = 2;
/** Batches whose scores a worker keeps in flight (published, PubAcks awaited, not yet acked). */
export const INFERENCE_PUBLISH_BATCHES = 3;
/** How long a partial batch waits for the rest of a pull's messages (an unbounded stream's tail). */
const INFERENCE_LINGER_MS = 20;

/**
 * The job consumer's max ack pending for `workers` workers: each may hold its pull requests'
 * messages, its local queue, the batch it scores and the batches whose PubAcks it awaits.
 */
export function inferenceAckPendingFor(workers: number, batchSize: number): number {
  return workers * batchSize * (2 * INFERENCE_PREFETCH_BATCHES + INFERENCE_PUBLISH_BATCHES + 1);
}

/**
 * A worker's side of the job's shared consumer: `consume()` keeps a few batches pulled ahead
 * (refilled at a threshold, so a batch never waits a round trip plus a fetch expiry), into a
 * bounded local queue whose pump stops pulling while it is full. Messages stay unacknowledged
 * until `ack` (after their scores' PubAcks). `drained` tells the bounded input's end.
 */
export class InferenceIntake {
  private readonly queue: JsMsg[] = [];
  private messages: ConsumerMessages | undefined;
  private pump: Promise<void> | undefined;
  private wakeTaker: (() => void) | undefined;
  private wakePump: (() => void) | undefined;
  private ended = false;
  private failure: unknown;
  /** The consumer's messages left to deliver as of the last delivery (undefined before one). */
  private serverPending: number | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    private readonly durable: string,
    private readonly batchSize: number,
  ) {}

  async start(): Promise<void> {
    const consumer = await jetstream(this.nc).consumers.get(this.stream, this.durable);
    const ahead = this.batchSize * INFERENCE_PREFETCH_BATCHES;
    this.messages = await consumer.consume({
      max_messages: ahead,
      threshold_messages: Math.max(1, ahead - this.batchSize),
    });
    this.pump = this.run(this.messages);
  }

  /** Nothing local, and the server had nothing left to deliver at its last delivery. */
  get exhausted(): boolean {
    return this.queue.length === 0 && this.serverPending === 0;
  }

  /**
   * Up to `max` local messages. With fewer than `max` local, waits until `max` are, or the server
   * has no more to deliver (then what is local goes at once), or `lingerMs` passed with some
   * local, or `waitMs` passed or `signal` aborted (then returns what is local, maybe none).
   * Throws what ended the consumer's messages.
   */
  async take(max: number, waitMs: number, signal: AbortSignal): Promise<JsMsg[]> {
    if (!this.ready(max) && !this.ended && !signal.aborted)
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          clearTimeout(linger);
          signal.removeEventListener('abort', done);
          this.wakeTaker = undefined;
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        let linger: NodeJS.Timeout | undefined;
        const arrived = (): void => {
          if (this.ready(max) || this.ended) return done();
          linger ??= setTimeout(done, INFERENCE_LINGER_MS);
        };
        signal.addEventListener('abort', done, { once: true });
        if (this.queue.length > 0) arrived();
        this.wakeTaker = arrived;
      });
    if (this.queue.length === 0 && this.failure !== undefined) throw this.failure;
    const taken = this.queue.splice(0, max);
    this.wakePump?.();
    return taken;
  }

  /** A batch can go: `max` local, or some local and nothing more for the server to deliver. */
  private ready(max: number): boolean {
    return this.queue.length >= max || (this.queue.length > 0 && this.serverPending === 0);
  }

  /** Acknowledges (sent in order with what follows; `drained` makes sure the server has them). */
  ack(messages: readonly JsMsg[]): void {
    for (const message of messages) message.ack();
  }

  /** Hands messages back for redelivery at once (a stop before their scores were published). */
  nak(messages: readonly JsMsg[]): void {
    // A closed connection cannot: the messages come back after the consumer's ack wait.
    if (this.nc.isClosed()) return;
    for (const message of messages) message.nak();
  }

  async drained(): Promise<boolean> {
    // Our own acks must have reached the server before it counts what is still out.
    await this.nc.flush();
    const jsm = await jetstreamManager(this.nc);
    const info = await jsm.consumers.info(this.stream, this.durable);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }

  /** Stops pulling and hands what is queued locally back for redelivery at once. */
  async close(): Promise<void> {
    this.ended = true;
    this.wakePump?.();
    await this.messages?.close().catch(() => undefined);
    await this.pump;
    this.nak(this.queue.splice(0));
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    const capacity = this.batchSize * INFERENCE_PREFETCH_BATCHES;
    try {
      for await (const message of messages) {
        this.queue.push(message);
        this.serverPending = message.info.pending;
        this.wakeTaker?.();
        // Not iterating holds back the next pull request: backpressure up to the server.
        while (this.queue.length >= capacity && !this.ended)
          await new Promise<void>((resolve) => (this.wakePump = resolve));
        this.wakePump = undefined;
        if (this.ended) break;
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.ended = true;
      this.wakeTaker?.();
    }
  }
}
