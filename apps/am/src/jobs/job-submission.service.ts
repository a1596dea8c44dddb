import {
  checkModelSpec,
  checkTrainingSettings,
  FieldIssue,
  isInferenceSubmission,
  JobSpec,
  jobSpecSchema,
  JobState,
  JobView,
  OutputSchema,
  parseInput,
  ValidationError,
} from '@dln/contracts';
import {
  checkPromotionPolicy,
  EMPTY_PROGRESS,
  newJobId,
  PreparedExamples,
  promotionPolicyOf,
  transitionJob,
} from '@dln/jobs';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { ActiveJob } from './active-job';
import { FeatureClient } from './feature-client';
import { InferenceJobs } from './inference-jobs.service';
import { JobLedger } from './job-ledger';
import { JobControl } from './job-control.service';
import { LAYOUT_PLANNER } from './jobs.tokens';
import type { LayoutPlanner } from './jobs.tokens';
import { StreamJobs } from './stream-jobs.service';
import { StreamSnapshots } from './stream-snapshots';

/**
 * POST /v1/jobs: validates a spec against the feature service's view of its examples, creates
 * the job and moves it to SCHEDULING, or to PREPARING when only a pipeline name is given (the
 * feature service then fits and materializes it, and the version is recorded on the job).
 */
@Injectable()
export class JobSubmission {
  private readonly logger = new Logger(JobSubmission.name);

  constructor(
    private readonly ledger: JobLedger,
    private readonly features: FeatureClient,
    private readonly control: JobControl,
    private readonly snapshots: StreamSnapshots,
    private readonly streams: StreamJobs,
    private readonly inference: InferenceJobs,
    @Inject(LAYOUT_PLANNER) private readonly planLayout: LayoutPlanner,
  ) {}

  async submit(body: unknown): Promise<JobView> {
    // An inference job is resolved against the catalogue: its spec is stored with the version.
    const inference = isInferenceSubmission(body) ? await this.inference.resolve(body) : null;
    const spec = inference?.spec ?? parseInput(jobSpecSchema, body, 'job spec');
    const examples = spec.examples;
    const jobId = newJobId(spec.name, randomBytes(4).toString('hex'));
    let prepared: PreparedExamples | null = null;
    if (inference) {
      prepared = inference.prepared;
      await this.inference.prepareOutput(jobId, spec);
    } else if (spec.mode === 'stream') {
      // No materialization: the roles read the stream from the job's consumer, and the layout
      // is planned on the output schema of the pipeline's latest snapshot.
      const snapshot = await this.snapshots.latest(examples.pipeline);
      prepared = await this.prepareExamples(
        spec,
        snapshot.pipeline,
        snapshot.version,
        snapshot.outputSchema,
        null,
      );
      await this.streams.ensureConsumer(jobId, spec);
    } else if ('version' in examples) {
      const described = await this.features.describe(examples.pipeline, examples.version);
      if (described.materialization.status !== 'done') {
        const message = `version ${described.version} of pipeline "${described.pipeline}" is not materialized (status ${described.materialization.status}); give only the pipeline name to have it prepared`;
        throw new ValidationError(message, [{ path: 'examples.version', message }]);
      }
      prepared = await this.prepareExamples(
        spec,
        described.pipeline,
        described.version,
        described.outputSchema,
        described.materialization.counts,
      );
    } else {
      // Catch what the latest version already shows; the prepared version is checked again.
      const latest = await this.features.describe(examples.pipeline).catch((error: unknown) => {
        if (
          error instanceof ValidationError &&
          error.options.issues?.[0]?.path === 'examples.pipeline' &&
          /no fitted version/.test(error.message)
        )
          return null;
        throw error;
      });
      if (latest) this.checkFit(spec, latest.outputSchema);
    }
    const now = this.ledger.now();
    const job = new ActiveJob(jobId, spec.name, spec, now, {
      state: JobState.Submitted,
      reason: null,
      generation: 0,
      pipelineVersion: prepared?.version ?? null,
      prepared,
      progress: EMPTY_PROGRESS,
      validation: [],
      modelVersion: null,
      lastSeq: 0,
      schedulingSince: null,
      updatedAt: now,
      roles: [],
    });
    job.record({
      type: 'job-state',
      from: null,
      to: JobState.Submitted,
      role: null,
      detail: { spec: spec.name },
      at: now,
    });
    if (prepared) {
      job.record(transitionJob(job, JobState.Scheduling, null, now));
      job.schedulingSince = now;
    } else {
      job.record(
        transitionJob(
          job,
          JobState.Preparing,
          `fitting and materializing pipeline "${examples.pipeline}"`,
          now,
        ),
      );
    }
    await this.ledger.add(job);
    this.logger.log({ msg: 'job submitted', jobId: job.id, state: job.state });
    if (!prepared) void this.prepare(job.id);
    return job.view();
  }

  /** Asks the feature service to prepare the examples of a PREPARING job (also after an AM restart). */
  async prepare(jobId: string): Promise<void> {
    const job = this.ledger.get(jobId);
    if (!job || job.state !== JobState.Preparing) return;
    const pipeline = job.spec.examples.pipeline;
    let outcome: { prepared: PreparedExamples } | { error: string };
    try {
      const reply = await this.features.prepare(pipeline);
      outcome = {
        prepared: await this.prepareExamples(
          job.spec,
          reply.pipeline,
          reply.version,
          reply.outputSchema,
          reply.counts,
        ),
      };
    } catch (error) {
      outcome = { error: error instanceof Error ? error.message : String(error) };
    }
    const result = await this.ledger.withJob(jobId, (current) => {
      if (current.state !== JobState.Preparing) return [];
      const now = this.ledger.now();
      if ('error' in outcome)
        return this.control.end(
          current,
          JobState.Failed,
          `could not prepare pipeline "${pipeline}": ${outcome.error}`,
        );
      current.prepared = outcome.prepared;
      current.pipelineVersion = outcome.prepared.version;
      current.schedulingSince = now;
      current.record({
        type: 'info',
        from: null,
        to: null,
        role: null,
        detail: {
          prepared: {
            pipeline,
            version: outcome.prepared.version,
            train: outcome.prepared.trainCount,
            validation: outcome.prepared.validationCount,
          },
        },
        at: now,
      });
      current.record(transitionJob(current, JobState.Scheduling, null, now));
      return [];
    });
    if (result) await this.control.stop(result.value, 'job failed');
  }

  private async prepareExamples(
    spec: JobSpec,
    pipeline: string,
    version: number,
    outputSchema: OutputSchema,
    /** Null for a stream job (no materialized examples). */
    counts: { train: number; validation: number } | null,
  ): Promise<PreparedExamples> {
    this.checkFit(spec, outputSchema);
    if (counts?.train === 0)
      this.fail(
        `version ${version} of pipeline "${pipeline}" has no training examples`,
        'examples',
      );
    let layout;
    try {
      layout = await this.planLayout(spec.model, outputSchema, spec.cluster.ps, spec.training.seed);
    } catch (error) {
      return this.fail(
        `the model cannot be built on this output schema: ${error instanceof Error ? error.message : String(error)}`,
        'model',
      );
    }
    return {
      pipeline,
      version,
      outputSchema,
      trainCount: counts?.train ?? 0,
      validationCount: counts?.validation ?? 0,
      layout,
    };
  }

  /** The model, training settings and promotion metric must fit the label and columns. */
  private checkFit(spec: JobSpec, schema: OutputSchema): void {
    const issues: FieldIssue[] = [
      ...checkModelSpec(spec.model, schema),
      ...checkTrainingSettings(spec.training, schema),
      ...checkPromotionPolicy(promotionPolicyOf(spec), schema),
    ];
    if (issues.length > 0) {
      throw new ValidationError(
        `job spec does not fit the pipeline's output schema: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        issues,
      );
    }
  }

  private fail(message: string, path: string): never {
    throw new ValidationError(message, [{ path, message }]);
  }
}
