import { ControlPattern, epochGateRequestSchema, roleReportSchema, Subjects } from '@dln/contracts';
import { EpochGate, EpochGateSettings } from '@dln/jobs';
import { decodeJson, encodeJson } from '@dln/messaging';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { roleIndex } from '@dln/training';

/** A running gate service; `close` drains its subscriptions. */
export interface GateService {
  close(): Promise<void>;
}

/**
 * The epoch gate of one job without the rest of the AM (benchmarks and integration tests that
 * run roles with no AM): @dln/jobs' EpochGate fed by the job's evaluation reports, answering each
 * worker's gate request once the verdict of its epoch is known.
 */
export function serveEpochGate(
  nc: NatsConnection,
  subjects: Subjects,
  jobId: string,
  settings: EpochGateSettings,
): GateService {
  const gate = new EpochGate(settings);
  const waiting = new Map<number, Msg[]>();
  const release = (epoch: number): void => {
    const verdict = gate.verdict(epoch);
    if (!verdict) return;
    for (const msg of waiting.get(epoch) ?? []) msg.respond(encodeJson(verdict));
    waiting.delete(epoch);
  };
  const reports = nc.subscribe(subjects.jobReports(jobId), {
    callback: (_error, msg) => {
      // Roles send reports as requests and re-send them until answered (as the AM answers).
      if (msg.reply) msg.respond(encodeJson(null));
      const report = roleReportSchema.safeParse(decodeJson(msg.data));
      if (report.success && report.data.type === 'evaluation') {
        gate.evaluation(report.data.epoch, report.data.metrics);
        release(report.data.epoch);
      }
    },
  });
  const requests = nc.subscribe(subjects.control(ControlPattern.epochGate), {
    callback: (_error, msg) => {
      const request = epochGateRequestSchema.safeParse(decodeJson(msg.data));
      if (!request.success || request.data.token.jobId !== jobId) return;
      const { token, epoch } = request.data;
      waiting.set(epoch, [...(waiting.get(epoch) ?? []), msg]);
      gate.arrive(roleIndex(token.role), epoch);
      release(epoch);
    },
  });
  return {
    close: async () => {
      await Promise.all([reports.drain(), requests.drain()]);
    },
  };
}
