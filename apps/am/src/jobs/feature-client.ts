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
});
export type DescribedVersion = z.infer<typeof describedVersionSchema>;

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

  /** Fits (if no version exists) and materializes the pipeline; resolves when the examples are there. */
  prepare(pipeline: string): Promise<PreparedReply> {
    return requestJson(
      this.nats,
      this.subjects.control(ControlPattern.pipelinePrepare),
      { pipeline, fit: 'if-missing' },
      {
        reply: preparedReplySchema,
        what: 'pipeline prepare',
        timeoutMs: this.settings.prepareTimeoutMs,
      },
    );
  }
}
