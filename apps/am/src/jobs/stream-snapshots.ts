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

/** The part of a StreamSnapshot the AM relies on (the rest passes through unread). */
export const streamSnapshotHeadSchema = z.object({
  pipeline: resourceName,
  version: z.number().int().positive(),
  records: z.number().int().nonnegative(),
  outputSchema: outputSchemaSchema,
});
export type StreamSnapshotHead = z.infer<typeof streamSnapshotHeadSchema>;

/** Asks the feature service for a stream pipeline's latest snapshot (ControlPattern.streamSnapshot). */
@Injectable()
export class StreamSnapshots {
  constructor(
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    @Inject(JOBS_SETTINGS) private readonly settings: JobsSettings,
  ) {}

  /** The latest snapshot; an unknown pipeline or one without a snapshot -> 400 on `examples.pipeline`. */
  async latest(pipeline: string): Promise<StreamSnapshotHead> {
    try {
      return await requestJson(
        this.nats,
        this.subjects.control(ControlPattern.streamSnapshot),
        { pipeline },
        {
          reply: streamSnapshotHeadSchema,
          what: 'stream snapshot',
          timeoutMs: this.settings.describeTimeoutMs,
        },
      );
    } catch (error) {
      if (!(error instanceof DlnError) || error.code !== ErrorCode.NotFound) throw error;
      const message = /^stream snapshot /.test(error.message)
        ? `stream pipeline "${pipeline}" has no snapshot yet (it has not run)`
        : `unknown stream pipeline "${pipeline}"`;
      throw new ValidationError(message, [{ path: 'examples.pipeline', message }]);
    }
  }
}
