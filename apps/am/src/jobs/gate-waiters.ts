import type { EpochGateReply } from '@dln/contracts';

interface Waiter {
  epoch: number;
  resolve: (reply: EpochGateReply) => void;
}

/** Workers' epoch-gate requests held until the verdict of their epoch is known. */
export class GateWaiters {
  private readonly waiters = new Map<string, Waiter[]>();

  wait(jobId: string, epoch: number): Promise<EpochGateReply> {
    return new Promise((resolve) => {
      const list = this.waiters.get(jobId) ?? [];
      list.push({ epoch, resolve });
      this.waiters.set(jobId, list);
    });
  }

  /** Answers the waiters of `epoch` (and of every later epoch when the verdict is to stop). */
  settle(jobId: string, epoch: number, reply: EpochGateReply): void {
    const list = this.waiters.get(jobId);
    if (!list) return;
    const keep: Waiter[] = [];
    for (const waiter of list) {
      if (waiter.epoch === epoch || (!reply.proceed && waiter.epoch > epoch)) waiter.resolve(reply);
      else keep.push(waiter);
    }
    if (keep.length > 0) this.waiters.set(jobId, keep);
    else this.waiters.delete(jobId);
  }

  /** The job ended: every waiter is told to stop. */
  release(jobId: string, reason: string): void {
    for (const waiter of this.waiters.get(jobId) ?? []) waiter.resolve({ proceed: false, reason });
    this.waiters.delete(jobId);
  }

  count(jobId: string): number {
    return this.waiters.get(jobId)?.length ?? 0;
  }
}
