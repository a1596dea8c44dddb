import { RoleReport, Subjects } from '@dln/contracts';
import { encodeJson } from '@dln/messaging';
import type { NatsConnection } from '@nats-io/transport-node';

export interface ReportOutboxOptions {
  /** One attempt's wait for the AM's answer. */
  attemptTimeoutMs?: number;
  /** Longest pause between attempts while the AM (or NATS) is away. */
  maxRetryDelayMs?: number;
  /** Reports kept at most (progress reports are compacted first; then the oldest go). */
  capacity?: number;
  onDropped?: (report: RoleReport) => void;
}

/**
 * A role's reports to the AM, sent in order as requests (Subjects.jobReports). A report stays
 * queued until the AM answers (it handled it); while the AM is gone or NATS restarts the role
 * goes on and the queue is re-sent. Unsent progress reports of a role collapse into the latest.
 */
export class ReportOutbox {
  private readonly queue: RoleReport[] = [];
  private sending = false;
  private closed = false;
  private readonly idle: (() => void)[] = [];
  private readonly subject: string;

  constructor(
    private readonly nc: NatsConnection,
    subjects: Subjects,
    jobId: string,
    private readonly options: ReportOutboxOptions = {},
  ) {
    this.subject = subjects.jobReports(jobId);
  }

  /** The ReportSink: never blocks the role. */
  readonly send = (report: RoleReport): void => {
    if (this.closed) return;
    if (report.type === 'progress') {
      // The first entry may be in flight: never remove it, it is removed once answered.
      for (let i = this.queue.length - 1; i >= 1; i -= 1) {
        if (this.queue[i]?.type === 'progress') this.queue.splice(i, 1);
      }
    }
    this.queue.push(report);
    const capacity = this.options.capacity ?? 1000;
    while (this.queue.length > capacity) {
      const dropped = this.queue.splice(1, 1)[0];
      if (dropped) this.options.onDropped?.(dropped);
    }
    if (!this.sending) void this.pump();
  };

  /** Reports not answered yet. */
  get pending(): number {
    return this.queue.length;
  }

  /** Resolves true once every queued report is answered, false after `timeoutMs`. */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.queue.length === 0) return true;
    if (this.closed || this.nc.isClosed()) return false;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      new Promise<boolean>((resolve) => this.idle.push(() => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return done;
  }

  /** Stops sending; what is left is dropped. */
  close(): void {
    this.closed = true;
  }

  private async pump(): Promise<void> {
    this.sending = true;
    let failures = 0;
    try {
      while (this.queue.length > 0 && !this.closed && !this.nc.isClosed()) {
        const report = this.queue[0] as RoleReport;
        const sentAt = performance.now();
        try {
          await this.nc.request(this.subject, encodeJson(report), {
            timeout: this.options.attemptTimeoutMs ?? 5000,
          });
          const index = this.queue.indexOf(report);
          if (index >= 0) this.queue.splice(index, 1);
          failures = 0;
        } catch {
          // No AM (no responders), no answer (AM busy or restarting), NATS reconnecting: again.
          failures += 1;
          const wait = Math.min(this.options.maxRetryDelayMs ?? 2000, 50 * 2 ** failures);
          const spent = performance.now() - sentAt;
          if (spent < wait) await new Promise((resolve) => setTimeout(resolve, wait - spent));
        }
      }
    } finally {
      this.sending = false;
      if (this.queue.length === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }
}
