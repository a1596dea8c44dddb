import {
  ControlPattern,
  DlnError,
  ErrorCode,
  outputSchemaSchema,
  resourceName,
  Subjects,
  ValidationError,
} from '@dln/contracts';
import { requestJson } from '@dln/messaging';
import type { NatsConnection } from '@dln/messaging';
import { NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { JOBS_SETTINGS } from './jobs.tokens';
import type { JobsSettings } from './jobs.tokens';

/** The part of a described pipeline version the AM relies on (other fields pass through unread). */
export const describedVersionSchema = z.object({
  pipeline: resourceName,
  version: z.number().int().positive(),
  outputSchema: outputSchemaSchema,
  materialization: z.object({
    status: z.string(),
    counts: z.object({ train: z.number().int().min(0), validation: z.number().int().min(0) }),
  }),
  /** The fitted snapshot's spec names the source of the records (inference jobs read it). */
  snapshot: z.object({ spec: z.object({ source: resourceName }) }).optional(),
});
export type DescribedVersion = z.infer<typeof describedVersionSchema>;

/** How long one pipelinePrepare ask waits before it is asked again (see `prepare`). */
const PREPARE_ASK_MS = 5_000;

/** The part of a pipelinePrepare reply the AM relies on. */
export const preparedReplySchema = z.object({
  pipeline: resourceName,
  version: z.number().int().positive(),
  outputSchema: outputSchemaSchema,
  counts: z.object({ train: z.number().int().min(0), validation: z.number().int().min(0) }),
});
export type PreparedReply = z.infer<typeof preparedReplySchema>;

/** Asks the feature service about pipelines; its NOT_FOUND answers become precise 400s on the job spec. */
@Injectable()
export class FeatureClient {
  constructor(
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(JOBS_SETTINGS) private readonly settings: JobsSettings,
  ) {}

  /** A version (or the latest); unknown pipeline or version -> ValidationError on `examples.*`. */
  async describe(pipeline: string, version?: number): Promise<DescribedVersion> {
    try {
      return await requestJson(
        this.nats,
        this.subjects.control(ControlPattern.pipelineDescribe),
        version === undefined ? { pipeline } : { pipeline, version },
        {
          reply: describedVersionSchema,
          what: 'pipeline describe',
          timeoutMs: this.settings.describeTimeoutMs,
        },
      );
    } catch (error) {
      if (!(error instanceof DlnError) || error.code !== ErrorCode.NotFound) throw error;
      if (/^pipeline version /.test(error.message)) {
        const message =
          version === undefined
            ? `pipeline "${pipeline}" has no fitted version yet`
            : `pipeline "${pipeline}" has no version ${version}`;
        throw new ValidationError(`unknown pipeline version: ${message}`, [
          { path: version === undefined ? 'examples.pipeline' : 'examples.version', message },
        ]);
      }
      const message = `unknown pipeline "${pipeline}"`;
      throw new ValidationError(message, [{ path: 'examples.pipeline', message }]);
    }
  }

  /**
   * Fits (if no version exists) and materializes the pipeline; resolves when the examples are there.
   * Asked again every PREPARE_ASK_MS until `prepareTimeoutMs`: a feature service that died while
   * preparing never answers, and its restarted self only starts again when asked (a live one
   * answers the repeated ask when the running fit/materialization ends, which it joins).
   */
  async prepare(pipeline: string): Promise<PreparedReply> {
    const deadline = Date.now() + this.settings.prepareTimeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      try {
        return await requestJson(
          this.nats,
          this.subjects.control(ControlPattern.pipelinePrepare),
          { pipeline, fit: 'if-missing' },
          {
            reply: preparedReplySchema,
            what: 'pipeline prepare',
            timeoutMs: Math.max(1, Math.min(PREPARE_ASK_MS, left)),
          },
        );
      } catch (error) {
        const retry = error instanceof DlnError && error.retryable && Date.now() < deadline - 1;
        if (!retry) throw error;
        if (error.code === ErrorCode.Unavailable)
          await new Promise((resolve) => setTimeout(resolve, Math.min(500, left)));
      }
    }
  }
}
