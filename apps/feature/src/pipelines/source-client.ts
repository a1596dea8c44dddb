import {
  ControlPattern,
  DlnError,
  ErrorCode,
  SourceDescription,
  sourceDescriptionSchema,
  Subjects,
  ValidationError,
} from '@dln/contracts';
import { NatsConnection, requestJson } from '@dln/messaging';

/** Asks ingest (the owner of sources) to describe one; an unknown source is the caller's mistake. */
export async function describeSource(
  nc: NatsConnection,
  subjects: Subjects,
  source: string,
  timeoutMs: number,
): Promise<SourceDescription> {
  try {
    return await requestJson(
      nc,
      subjects.control(ControlPattern.sourceDescribe),
      { name: source },
      {
        reply: sourceDescriptionSchema,
        what: `source "${source}" description`,
        timeoutMs,
      },
    );
  } catch (err) {
    if (err instanceof DlnError && err.code === ErrorCode.NotFound) {
      throw new ValidationError(`source "${source}" is not declared`, [
        { path: 'source', message: 'no such source' },
      ]);
    }
    throw err;
  }
}
