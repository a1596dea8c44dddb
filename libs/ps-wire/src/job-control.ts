import { FencingToken, JobControlNotice, jobControlNoticeSchema, Subjects } from '@dln/contracts';
import { decodeJson } from '@dln/messaging';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';

/**
 * Whether `notice` ends the incarnation `own`: its role was replaced by a newer attempt (or it
 * is the superseded one), or the job restarted under a newer generation. Null when it does not.
 */
export function supersessionOf(own: FencingToken, notice: JobControlNotice): string | null {
  if (notice.jobId !== own.jobId) return null;
  if (notice.type === 'generation') {
    return notice.generation > own.generation
      ? `the job restarted under generation ${notice.generation}: ${notice.reason}`
      : null;
  }
  const { by, superseded } = notice;
  if (by.role !== own.role || by.generation < own.generation) return null;
  const replaced =
    by.generation > own.generation ||
    by.attempt > own.attempt ||
    (superseded.generation === own.generation && superseded.attempt === own.attempt);
  return replaced ? `${own.role} was replaced by attempt ${by.attempt}: ${notice.reason}` : null;
}

/**
 * Listens to the job's failover notices (Subjects.jobControl, best effort: the new
 * incarnation's own token carries the same news). Invalid messages are ignored.
 */
export function watchJobControl(
  nc: NatsConnection,
  subjects: Subjects,
  jobId: string,
  onNotice: (notice: JobControlNotice) => void,
): Subscription {
  return nc.subscribe(subjects.jobControl(jobId), {
    callback: (error, msg) => {
      if (error) return;
      let body: unknown;
      try {
        body = decodeJson(msg.data);
      } catch {
        return;
      }
      const parsed = jobControlNoticeSchema.safeParse(body);
      if (parsed.success) onNotice(parsed.data);
    },
  });
}

/**
 * An AbortSignal that fires when a notice ends the incarnation `own` (its reason as the abort
 * reason); `close` stops listening.
 */
export function supersessionSignal(
  nc: NatsConnection,
  subjects: Subjects,
  own: FencingToken,
): { signal: AbortSignal; close(): void } {
  const controller = new AbortController();
  const subscription = watchJobControl(nc, subjects, own.jobId, (notice) => {
    const reason = supersessionOf(own, notice);
    if (reason !== null && !controller.signal.aborted) controller.abort(reason);
  });
  return { signal: controller.signal, close: () => subscription.unsubscribe() };
}
