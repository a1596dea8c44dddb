import {
  ControlPattern,
  DlnError,
  EpochGateRequest,
  epochGateReplySchema,
  FencingToken,
  RoleReport,
  Subjects,
} from '@dln/contracts';
import { encodeJson, requestJson } from '@dln/messaging';
import type { NatsConnection } from '@nats-io/transport-node';
import { EpochGate, ReportSink } from '@dln/training';
import { StoppedError, untilAborted } from './abortable';
import { RECONNECTED, Reconnects } from './reconnects';

/** Reports go to the AM as events on the job's report subject; publishing never blocks the role. */
export function natsReportSink(nc: NatsConnection, subjects: Subjects, jobId: string): ReportSink {
  const subject = subjects.jobReports(jobId);
  return (report: RoleReport) => nc.publish(subject, encodeJson(report));
}

export interface NatsEpochGateOptions {
  /** One request's timeout: the AM answers once every worker is at the gate, so it retries. */
  attemptTimeoutMs?: number;
  retryDelayMs?: number;
  signal?: AbortSignal;
}

/**
 * The AM's epoch gate over NATS (ControlPattern.epochGate). The AM keeps its verdicts, so asking
 * again after a timeout or an AM failover is safe; it asks until it gets an answer or is aborted.
 */
export class NatsEpochGate implements EpochGate {
  private reconnects: Reconnects | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly token: FencingToken,
    private readonly options: NatsEpochGateOptions = {},
  ) {}

  async pass(epoch: number): Promise<boolean> {
    const request: EpochGateRequest = { token: this.token, epoch };
    for (;;) {
      if (this.options.signal?.aborted)
        throw new DlnError('UNAVAILABLE', 'stopped while waiting at the epoch gate');
      try {
        const asked = requestJson(
          this.nc,
          this.subjects.control(ControlPattern.epochGate),
          request,
          {
            reply: epochGateReplySchema,
            what: `epoch gate of epoch ${epoch}`,
            timeoutMs: this.options.attemptTimeoutMs ?? 10_000,
          },
        );
        const { signal } = this.options;
        this.reconnects ??= new Reconnects(this.nc);
        // A request lost in a NATS restart is asked again at the reconnect, not after its timeout.
        const reply = await this.reconnects.race(signal ? untilAborted(asked, signal) : asked);
        if (reply === RECONNECTED) {
          asked.catch(() => undefined);
          continue;
        }
        return reply.proceed;
      } catch (error) {
        if (error instanceof StoppedError) continue;
        if (!(error instanceof DlnError) || !error.retryable) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs ?? 500));
      }
    }
  }
}
