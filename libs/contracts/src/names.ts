import { z } from 'zod';

/**
 * One naming rule for sources, pipelines, models, jobs and the subject root: names become NATS
 * subject tokens, JetStream stream names and URL segments, so they may only use characters that
 * are safe in all three.
 */
export const NAME_PATTERN = /^[a-z0-9_-]{1,64}$/;

export const NAME_RULE = 'lowercase letters, digits, "_" or "-", 1 to 64 characters';

/** Validator for a resource name (source, pipeline, model, job, subject root). */
export const resourceName = z.string().regex(NAME_PATTERN, { message: `must be ${NAME_RULE}` });

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}
