/** An event waiting for its label. */
export interface PendingEvent<P> {
  id: string;
  key: string;
  time: number;
  /** Whether a label was already joined (kept until the window ends, to spot duplicate labels). */
  labeled: boolean;
  payload: P;
}

export type LabelOutcome<P> =
  | { kind: 'joined'; event: PendingEvent<P> }
  | { kind: 'duplicate'; event: PendingEvent<P> }
  | { kind: 'unmatched' };

/**
 * Joins labels to events by key within `windowMs`: a label at time L joins the oldest unlabeled
 * event of its key with `t <= L < t + windowMs`; when every such event is labeled already, the
 * label is a duplicate. `expire(watermark)` ends the events with `t + windowMs <= watermark` and
 * returns the unlabeled ones (the negatives). Events and labels must come in event-time order
 * (events before labels at equal times), as the EventTimeBuffer releases them.
 */
export class LabelJoiner<P> {
  private readonly byKey = new Map<string, PendingEvent<P>[]>();
  /** Every pending event in time order; `head` is the first not yet expired. */
  private queue: PendingEvent<P>[] = [];
  private head = 0;

  constructor(readonly windowMs: number) {}

  static from<P>(windowMs: number, pending: readonly PendingEvent<P>[]): LabelJoiner<P> {
    const joiner = new LabelJoiner<P>(windowMs);
    for (const event of pending) joiner.insert({ ...event });
    return joiner;
  }

  get size(): number {
    return this.queue.length - this.head;
  }

  addEvent(id: string, key: string, time: number, payload: P): void {
    this.insert({ id, key, time, labeled: false, payload });
  }

  addLabel(key: string, time: number): LabelOutcome<P> {
    const events = this.byKey.get(key);
    let labeled: PendingEvent<P> | undefined;
    for (const event of events ?? []) {
      if (event.time > time || time >= event.time + this.windowMs) continue;
      if (!event.labeled) {
        event.labeled = true;
        return { kind: 'joined', event };
      }
      labeled ??= event;
    }
    return labeled ? { kind: 'duplicate', event: labeled } : { kind: 'unmatched' };
  }

  /** Ends the events whose window closed; returns those that got no label, oldest first. */
  expire(watermark: number): PendingEvent<P>[] {
    const negatives: PendingEvent<P>[] = [];
    // Events are added in time order, so the closed ones are at the head of the queue.
    while (this.head < this.queue.length) {
      const event = this.queue[this.head] as PendingEvent<P>;
      if (event.time + this.windowMs > watermark) break;
      this.head += 1;
      const events = this.byKey.get(event.key);
      events?.shift();
      if (events?.length === 0) this.byKey.delete(event.key);
      if (!event.labeled) negatives.push(event);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return negatives;
  }

  /** Every pending event, in time order. */
  pending(): PendingEvent<P>[] {
    return this.queue.slice(this.head);
  }

  private insert(event: PendingEvent<P>): void {
    const last = this.queue[this.queue.length - 1];
    if (last && last.time > event.time && this.head < this.queue.length) {
      throw new Error(`events must be added in time order (${event.time} after ${last.time})`);
    }
    this.queue.push(event);
    const events = this.byKey.get(event.key);
    if (events) events.push(event);
    else this.byKey.set(event.key, [event]);
  }
}
