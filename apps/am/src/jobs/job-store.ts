import {
  EvaluationMetrics,
  JobEvent,
  JobProgress,
  JobSpec,
  JobState,
  RoleStart,
  RoleState,
} from '@dln/contracts';
import { CheckpointEntry, FailoverState, PreparedExamples, RoleKind, RoleRecord } from '@dln/jobs';
import {
  DataSource,
  EntityManager,
  JobCheckpointRow,
  JobEventRow,
  JobRoleRow,
  JobRow,
} from '@dln/persistence';
import { In, MoreThan, Not } from 'typeorm';
import { ActiveJob } from './active-job';

/** Most events one GET /v1/jobs/{id}/events answer returns. */
export const MAX_EVENTS_PER_PAGE = 1000;
/** Most jobs GET /v1/jobs lists (newest first). */
export const MAX_JOBS_LISTED = 500;

const FINAL_STATES = [JobState.Succeeded, JobState.Failed, JobState.Cancelled];

function toJobRow(job: ActiveJob): JobRow {
  const row = new JobRow();
  Object.assign(row, {
    id: job.id,
    name: job.name,
    state: job.state,
    reason: job.reason,
    generation: job.generation,
    spec: job.spec,
    pipeline: job.spec.examples.pipeline,
    pipelineVersion: job.pipelineVersion,
    prepared: job.prepared,
    progress: job.progressSummary(),
    validation: job.validation,
    modelVersion: job.modelVersion,
    lastSeq: job.lastSeq,
    schedulingSince: job.schedulingSince,
    failover: job.failover,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  });
  return row;
}

function toRoleRow(jobId: string, role: RoleRecord, now: number): JobRoleRow {
  const row = new JobRoleRow();
  Object.assign(row, { jobId, ...role, updatedAt: now });
  return row;
}

function toRole(row: JobRoleRow): RoleRecord {
  return {
    role: row.role,
    kind: row.kind as RoleKind,
    index: row.index,
    generation: row.generation,
    attempt: row.attempt,
    state: row.state as RoleState,
    nodeId: row.nodeId,
    reason: row.reason,
    start: (row.start ?? RoleStart.Fresh) as RoleStart,
  };
}

function toJob(row: JobRow, roles: JobRoleRow[]): ActiveJob {
  return new ActiveJob(row.id, row.name, row.spec as JobSpec, row.createdAt, {
    state: row.state as JobState,
    reason: row.reason,
    generation: row.generation,
    pipelineVersion: row.pipelineVersion,
    prepared: row.prepared as PreparedExamples | null,
    progress: row.progress as JobProgress,
    validation: row.validation as { epoch: number; metrics: EvaluationMetrics }[],
    modelVersion: row.modelVersion,
    lastSeq: row.lastSeq,
    schedulingSince: row.schedulingSince,
    updatedAt: row.updatedAt,
    roles: roles.map(toRole),
    failover: row.failover as FailoverState | null,
  });
}

function toEvent(row: JobEventRow): JobEvent {
  return {
    jobId: row.jobId,
    seq: row.seq,
    at: new Date(row.at).toISOString(),
    type: row.type as JobEvent['type'],
    from: row.fromState,
    to: row.toState,
    role: row.role,
    detail: (row.detail ?? {}) as Record<string, unknown>,
  };
}

/** The am's job tables: jobs, their role incarnations, events and checkpoints. */
export class JobStore {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Writes the job row, its changed roles and its pending events in one transaction, so a state
   * is never stored without its event. Returns the events as published.
   */
  async commit(job: ActiveJob, now: number): Promise<JobEvent[]> {
    const drafts = job.drafts.splice(0);
    const roles = [...job.dirtyRoles];
    job.dirtyRoles.clear();
    const events = drafts.map((draft) => ({ ...draft, seq: ++job.lastSeq }));
    job.updatedAt = now;
    await this.dataSource.transaction(async (manager: EntityManager) => {
      await manager.getRepository(JobRow).save(toJobRow(job));
      if (roles.length > 0)
        await manager
          .getRepository(JobRoleRow)
          .save(roles.map((role) => toRoleRow(job.id, role, now)));
      if (events.length > 0) {
        await manager.getRepository(JobEventRow).insert(
          events.map((event) => ({
            jobId: job.id,
            seq: event.seq,
            type: event.type,
            fromState: event.from,
            toState: event.to,
            role: event.role,
            detail: event.detail,
            at: event.at,
          })),
        );
      }
    });
    return events.map((event) => ({
      jobId: job.id,
      seq: event.seq,
      at: new Date(event.at).toISOString(),
      type: event.type,
      from: event.from,
      to: event.to,
      role: event.role,
      detail: event.detail,
    }));
  }

  async load(id: string): Promise<ActiveJob | undefined> {
    const row = await this.dataSource.getRepository(JobRow).findOne({ where: { id } });
    if (!row) return undefined;
    const roles = await this.dataSource.getRepository(JobRoleRow).find({ where: { jobId: id } });
    return toJob(row, roles);
  }

  /** Every job that is not final (an AM restart resumes them). */
  async loadActive(): Promise<ActiveJob[]> {
    const rows = await this.dataSource
      .getRepository(JobRow)
      .find({ where: { state: Not(In(FINAL_STATES)) }, order: { createdAt: 'ASC' } });
    return Promise.all(
      rows.map(async (row) =>
        toJob(
          row,
          await this.dataSource.getRepository(JobRoleRow).find({ where: { jobId: row.id } }),
        ),
      ),
    );
  }

  /** Final jobs, newest first (active ones are held in memory). */
  async listFinal(limit: number): Promise<ActiveJob[]> {
    const rows = await this.dataSource
      .getRepository(JobRow)
      .find({ where: { state: In(FINAL_STATES) }, order: { createdAt: 'DESC' }, take: limit });
    if (rows.length === 0) return [];
    const roles = await this.dataSource
      .getRepository(JobRoleRow)
      .find({ where: { jobId: In(rows.map((row) => row.id)) } });
    return rows.map((row) =>
      toJob(
        row,
        roles.filter((role) => role.jobId === row.id),
      ),
    );
  }

  async events(jobId: string, afterSeq: number, limit: number): Promise<JobEvent[]> {
    const rows = await this.dataSource
      .getRepository(JobEventRow)
      .find({ where: { jobId, seq: MoreThan(afterSeq) }, order: { seq: 'ASC' }, take: limit });
    return rows.map(toEvent);
  }

  async checkpoints(jobId: string): Promise<CheckpointEntry[]> {
    const rows = await this.dataSource
      .getRepository(JobCheckpointRow)
      .find({ where: { jobId }, order: { generation: 'ASC', step: 'ASC' } });
    return rows.map((row) => ({
      generation: row.generation,
      step: row.step,
      manifest: row.manifest,
      objects: row.objects as string[],
    }));
  }

  async addCheckpoint(jobId: string, entry: CheckpointEntry, now: number): Promise<void> {
    await this.dataSource
      .getRepository(JobCheckpointRow)
      .insert({ jobId, ...entry, createdAt: now });
  }

  async removeCheckpoint(
    jobId: string,
    entry: Pick<CheckpointEntry, 'generation' | 'step'>,
  ): Promise<void> {
    await this.dataSource
      .getRepository(JobCheckpointRow)
      .delete({ jobId, generation: entry.generation, step: entry.step });
  }
}
