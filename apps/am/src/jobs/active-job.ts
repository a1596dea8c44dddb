import {
  EvaluationMetrics,
  JobControlNotice,
  JobProgress,
  JobSpec,
  JobState,
  JobView,
  isFinalJobState,
} from '@dln/contracts';
import {
  CheckpointTracker,
  currentRoles,
  EpochGate,
  emptyFailoverState,
  FailoverState,
  JobEventDraft,
  JobStatus,
  PreparedExamples,
  ProgressTracker,
  RoleRecord,
} from '@dln/jobs';

/**
 * One job as the AM holds it while it is not final: the persisted fields plus the trackers that
 * are rebuilt from them on restart. Changed only under the job's lock (see ActiveJobs).
 */
export class ActiveJob implements JobStatus {
  state: JobState;
  reason: string | null;
  generation: number;
  pipelineVersion: number | null;
  prepared: PreparedExamples | null;
  validation: { epoch: number; metrics: EvaluationMetrics }[];
  modelVersion: number | null;
  lastSeq: number;
  schedulingSince: number | null;
  updatedAt: number;
  roles: RoleRecord[];
  /** Failures per role, backoff and export deadlines: persisted so an AM restart goes on. */
  failover: FailoverState;
  /** Role records changed since the last commit. */
  readonly dirtyRoles = new Set<RoleRecord>();
  /** Events waiting for the next commit. */
  readonly drafts: JobEventDraft[] = [];
  /** Failover notices to the job's roles, published after the next commit. */
  readonly notices: JobControlNotice[] = [];
  readonly progress = new ProgressTracker();
  /** Progress from the row, shown until the first report after a restart. */
  storedProgress: JobProgress;
  gate: EpochGate;
  checkpoints: CheckpointTracker | null = null;
  lastProgressEventAt = 0;
  /** Row fields changed without an event (e.g. progress); written at the next commit. */
  dirtyRow = false;
  /** The last scheduling reason recorded as an event (so a repeated one is not recorded again). */
  lastWaitReason: string | null = null;

  constructor(
    readonly id: string,
    readonly name: string,
    readonly spec: JobSpec,
    readonly createdAt: number,
    fields: {
      state: JobState;
      reason: string | null;
      generation: number;
      pipelineVersion: number | null;
      prepared: PreparedExamples | null;
      progress: JobProgress;
      validation: { epoch: number; metrics: EvaluationMetrics }[];
      modelVersion: number | null;
      lastSeq: number;
      schedulingSince: number | null;
      updatedAt: number;
      roles: RoleRecord[];
      failover?: FailoverState | null;
    },
  ) {
    this.state = fields.state;
    this.reason = fields.reason;
    this.generation = fields.generation;
    this.pipelineVersion = fields.pipelineVersion;
    this.prepared = fields.prepared;
    this.storedProgress = fields.progress;
    this.validation = fields.validation;
    this.modelVersion = fields.modelVersion;
    this.lastSeq = fields.lastSeq;
    this.schedulingSince = fields.schedulingSince;
    this.updatedAt = fields.updatedAt;
    this.roles = fields.roles;
    this.failover = fields.failover ?? emptyFailoverState();
    this.gate = new EpochGate({
      workers: spec.cluster.workers,
      epochs: spec.training.epochs,
      ...(spec.training.earlyStopping ? { earlyStopping: spec.training.earlyStopping } : {}),
    });
    for (const { epoch, metrics } of this.validation) this.gate.evaluation(epoch, metrics);
  }

  get final(): boolean {
    return isFinalJobState(this.state);
  }

  /** The current incarnation of every role. */
  current(): RoleRecord[] {
    return currentRoles(this.roles);
  }

  record(draft: JobEventDraft | undefined): void {
    if (draft) this.drafts.push(draft);
  }

  touch(role: RoleRecord): void {
    this.dirtyRoles.add(role);
  }

  progressSummary(): JobProgress {
    return this.progress.positions().length > 0 ? this.progress.summary() : this.storedProgress;
  }

  view(): JobView {
    return {
      id: this.id,
      name: this.name,
      state: this.state,
      reason: this.reason,
      generation: this.generation,
      spec: this.spec,
      pipelineVersion: this.pipelineVersion,
      roles: this.current().map((role) => ({
        role: role.role,
        state: role.state,
        nodeId: role.nodeId,
        attempt: role.attempt,
        reason: role.reason,
      })),
      progress: this.progressSummary(),
      validation: this.validation,
      modelVersion: this.modelVersion,
      createdAt: new Date(this.createdAt).toISOString(),
      updatedAt: new Date(this.updatedAt).toISOString(),
    };
  }
}
