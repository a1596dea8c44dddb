/**
 * Request buffers of a NatsShardClient, reused from one step to the next: a worker sends the
 * same few sizes of message (a gradient, a pull) every step, and a new buffer of 200 KB each time
 * costs the sender allocation, page faults and garbage collection (measured: about as much CPU
 * as the rest of the client's work together).
 *
 * A buffer goes back to the pool only once its request was answered: the NATS client copies a
 * payload into its write buffer before the request leaves, so an answered request no longer
 * needs it. A request that ended otherwise (timeout, stopped, disconnected) may still sit in the
 * client's queue, so its buffer is dropped, never reused.
 */
export class MessagePool {
  private readonly free: Uint8Array[] = [];

  constructor(private readonly keep = 8) {}

  /** A free buffer of exactly `bytes` bytes, taken out of the pool; undefined when none. */
  readonly take = (bytes: number): Uint8Array | undefined => {
    const index = this.free.findIndex((buffer) => buffer.byteLength === bytes);
    if (index < 0) return undefined;
    const [buffer] = this.free.splice(index, 1);
    return buffer;
  };

  /** Gives back a buffer whose request was answered. Small ones are not worth keeping. */
  release(buffer: Uint8Array): void {
    if (buffer.byteLength < MIN_POOLED_BYTES) return;
    if (this.free.length >= this.keep) this.free.shift();
    this.free.push(buffer);
  }
}

/**
 * Reply buffers of a ps responder. A reply has no answer to prove it left, so its buffer goes
 * back to the pool once a flush (PING queued after it, PONG back) shows the NATS client sent it;
 * the replies of one event-loop turn share one flush. A flush that fails (disconnected) keeps
 * them out of the pool for good.
 */
export class ReplyPool {
  private readonly pool = new MessagePool();
  private batch: Uint8Array[] | undefined;

  constructor(private readonly flush: () => Promise<void>) {}

  readonly take = (bytes: number): Uint8Array | undefined => this.pool.take(bytes);

  /** Call right after handing `data` to the NATS client. */
  sent(data: Uint8Array): void {
    if (!this.batch) {
      const batch: Uint8Array[] = [];
      this.batch = batch;
      queueMicrotask(() => {
        this.batch = undefined;
        this.flush().then(
          () => batch.forEach((buffer) => this.pool.release(buffer)),
          () => undefined,
        );
      });
    }
    this.batch.push(data);
  }
}

/** Below this, allocation is cheap (V8's young generation): no pooling. */
const MIN_POOLED_BYTES = 16 * 1024;
