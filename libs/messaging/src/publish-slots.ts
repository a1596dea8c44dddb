/**
 * The bound of a window: a counter of taken slots and the callers waiting for one. A freed slot
 * passes straight to the longest waiter, so the bound holds and waiters are served in order.
 * Invariant: there are waiters only while every slot is taken.
 */
export class Slots {
  taken = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly limit: number) {}

  get waiting(): number {
    return this.waiters.length;
  }

  get full(): boolean {
    return this.taken >= this.limit;
  }

  tryTake(): boolean {
    if (this.taken >= this.limit) return false;
    this.taken += 1;
    return true;
  }

  /** Takes a slot even past the limit (a caller that must not wait). */
  force(): void {
    this.taken += 1;
  }

  /** `onSlot` runs synchronously once a slot is handed to it: it owns the slot then. */
  wait(onSlot: () => void): void {
    this.waiters.push(onSlot);
  }

  free(): void {
    if (this.taken <= this.limit) {
      const next = this.waiters.shift();
      if (next) return next();
    }
    this.taken -= 1;
  }
}
