import { z } from 'zod';
import { FieldIssue, ValidationError } from './errors';

/** Turns zod's issues into our FieldIssue list (dotted paths, one message each). */
export function toFieldIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((part) => part !== '').join('.');
    return { path: path === '' ? '(root)' : path, message: issue.message };
  });
}

/**
 * Validates an input from outside (HTTP body, NATS message, job spec) against its contract and
 * throws a ValidationError that names every offending field.
 */
export function parseInput<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = toFieldIssues(result.error);
    const first = issues[0];
    throw new ValidationError(
      `invalid ${what}: ${first ? `${first.path}: ${first.message}` : 'rejected'}`,
      issues,
    );
  }
  return result.data;
}

/** A finite number: zod's number() already refuses NaN; this also refuses ±Infinity. */
export const finiteNumber = z
  .number()
  .refine(Number.isFinite, { message: 'must be a finite number' });
