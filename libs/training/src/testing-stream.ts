import { ExampleBatch, gatherRows } from '@dln/ml';
import { StreamDelivery, StreamFetch, StreamSource } from './stream-source';

/**
 * An in-memory stand-in for a JetStream work-queue consumer shared by several workers (unit
 * tests of the stream loop): messages 1..n in order, each handed to one fetch at a time, held
 * until acknowledged; `loseAcks` drops the acknowledgements of the next fetches (the worker
 * died after pushing), whose messages then come back, marked redelivered, before new ones.
 */
export class MemoryConsumer {
  private nextNew = 1;
  private readonly redeliver: number[] = [];
  private readonly deliveries = new Map<number, number>();
  private readonly acked = new Map<number, number>();
  private lostAcks = 0;

  constructor(
    private readonly data: ExampleBatch,
    private readonly snapshotVersion = 1,
  ) {}

  /** Sequences acknowledged at least once, and how often each was. */
  get ackCounts(): ReadonlyMap<number, number> {
    return this.acked;
  }

  get total(): number {
    return this.data.size;
  }

  /** Every message acknowledged. */
  get drained(): boolean {
    return this.acked.size === this.data.size;
  }

  loseAcks(fetches: number): void {
    this.lostAcks += fetches;
  }

  source(): StreamSource {
    return {
      fetch: (max) => this.fetch(max),
      ack: async (seqs) => {
        if (this.lostAcks > 0) {
          this.lostAcks -= 1;
          this.redeliver.push(...seqs);
          return;
        }
        for (const seq of seqs) this.acked.set(seq, (this.acked.get(seq) ?? 0) + 1);
      },
    };
  }

  private async fetch(max: number): Promise<StreamFetch> {
    await new Promise((resolve) => setImmediate(resolve));
    const seqs: number[] = [];
    while (seqs.length < max && this.redeliver.length > 0)
      seqs.push(this.redeliver.shift() as number);
    while (seqs.length < max && this.nextNew <= this.data.size) seqs.push(this.nextNew++);
    const deliveries: StreamDelivery[] = seqs.map((seq, row) => {
      const count = (this.deliveries.get(seq) ?? 0) + 1;
      this.deliveries.set(seq, count);
      return { seq, redelivered: count > 1, row, snapshotVersion: this.snapshotVersion };
    });
    return {
      deliveries,
      batch: gatherRows(
        this.data,
        seqs.map((seq) => seq - 1),
      ),
    };
  }
}
