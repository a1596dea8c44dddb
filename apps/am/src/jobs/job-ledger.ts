import { systemClock } from '@dln/cluster';
import { JobControlNotice, JobEvent, NotFoundError, Subjects } from '@dln/contracts';
import { encodeJson } from '@dln/messaging';
import type { NatsConnection } from '@dln/messaging';
import type { DataSource } from '@dln/persistence';
import { DATA_SOURCE, NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ActiveJob } from './active-job';
import { JobStore } from './job-store';
import { JOBS_SETTINGS } from './jobs.tokens';
import type { JobsSettings } from './jobs.tokens';

/**
 * The jobs the AM is running, each changed only under its own lock, and the one way their
 * changes leave memory: a transaction (job row, changed roles, events), then one NATS message
 * per event on Subjects.jobEvents(id). Final jobs leave memory and are read from SQL.
 */
@Injectable()
export class JobLedger {
  private readonly logger = new Logger(JobLedger.name);
  private readonly jobs = new Map<string, ActiveJob>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /**
   * NATS handlers start before the modules' init hooks: every change waits until the active jobs
   * are reloaded, so no report or gate request of a running job is judged against an empty map.
   */
  private markLoaded: () => void = () => undefined;
  private readonly loaded = new Promise<void>((resolve) => {
    this.markLoaded = resolve;
  });
  readonly store: JobStore;
  /** Called once a job's final state is committed (e.g. a stream job's consumer is removed). */
  private readonly finalListeners: ((job: ActiveJob) => void)[] = [];

  constructor(
    @Inject(DATA_SOURCE) dataSource: DataSource,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(JOBS_SETTINGS) private readonly settings: JobsSettings,
  ) {
    this.store = new JobStore(dataSource);
  }

  /** Runs `listener` after the commit that makes a job final (it must not throw). */
  onFinal(listener: (job: ActiveJob) => void): void {
    this.finalListeners.push(listener);
  }

  now(): number {
    return (this.settings.clock ?? systemClock).now();
  }

  /** Reloads every non-final job (AM restart). */
  async reload(): Promise<ActiveJob[]> {
    const jobs = await this.store.loadActive();
    for (const job of jobs) this.jobs.set(job.id, job);
    this.markLoaded();
    return jobs;
  }

  /** Registers a new job and records its first events. */
  async add(job: ActiveJob): Promise<void> {
    this.jobs.set(job.id, job);
    await this.withJob(job.id, () => undefined);
  }

  active(): ActiveJob[] {
    return [...this.jobs.values()];
  }

  /** A job in memory (not final), or undefined. */
  get(id: string): ActiveJob | undefined {
    return this.jobs.get(id);
  }

  /**
   * Any job, active or final; NotFound otherwise. Waits for a change in progress to commit, so
   * what it shows is what the events say.
   */
  async find(id: string): Promise<ActiveJob> {
    await this.loaded;
    await this.locks.get(id);
    const job = this.jobs.get(id) ?? (await this.store.load(id));
    if (!job) throw new NotFoundError('job', id);
    return job;
  }

  /**
   * Runs `change` on an active job under its lock, then commits what it recorded. Returns
   * undefined when the job is not active (unknown or final).
   */
  async withJob<T>(
    id: string,
    change: (job: ActiveJob) => Promise<T> | T,
  ): Promise<{ value: T; job: ActiveJob } | undefined> {
    const previous = this.locks.get(id) ?? this.loaded;
    const run = previous.then(async () => {
      const job = this.jobs.get(id);
      if (!job) return undefined;
      try {
        const value = await change(job);
        await this.commit(job);
        return { value, job };
      } catch (error) {
        // What was recorded before the failure is still true; keep it.
        await this.commit(job).catch(() => undefined);
        throw error;
      }
    });
    const settled = run.catch(() => undefined);
    this.locks.set(id, settled);
    void settled.then(() => {
      if (this.locks.get(id) === settled) this.locks.delete(id);
    });
    return run;
  }

  private async commit(job: ActiveJob): Promise<void> {
    if (job.drafts.length === 0 && job.dirtyRoles.size === 0 && !job.dirtyRow) return;
    job.dirtyRow = false;
    const notices = job.notices.splice(0);
    const events = await this.store.commit(job, this.now());
    if (job.final) this.jobs.delete(job.id);
    for (const event of events) this.publish(event);
    if (job.final) for (const listener of this.finalListeners) listener(job);
    // After the commit: a role told it is superseded can rely on the AM having recorded it.
    for (const notice of notices) this.notify(notice);
  }

  private notify(notice: JobControlNotice): void {
    try {
      this.nats.publish(this.subjects.jobControl(notice.jobId), encodeJson(notice));
    } catch (error) {
      this.logger.warn({
        msg: 'could not publish a failover notice',
        jobId: notice.jobId,
        type: notice.type,
        error: String(error),
      });
    }
  }

  private publish(event: JobEvent): void {
    try {
      this.nats.publish(this.subjects.jobEvents(event.jobId), encodeJson(event));
    } catch (error) {
      this.logger.warn({
        msg: 'could not publish job event',
        jobId: event.jobId,
        seq: event.seq,
        error: String(error),
      });
    }
  }
}
