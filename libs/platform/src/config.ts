import { DEFAULT_SUBJECT_ROOT, NAME_PATTERN, NAME_RULE } from '@dln/contracts';
import { z } from 'zod';

/** Thrown at start-up when the environment is wrong; names every offending variable. */
export class ConfigError extends Error {
  constructor(
    readonly variables: string[],
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

const port = z.coerce.number().int().min(0).max(65_535);

/** Variables every service reads. Service configs extend this with their own. */
export const baseEnvSchema = z.object({
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  NATS_TOKEN: z.string().min(1).optional(),
  SUBJECT_ROOT: z
    .string()
    .regex(NAME_PATTERN, { message: `must be ${NAME_RULE}` })
    .default(DEFAULT_SUBJECT_ROOT),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  API_KEY: z.string().min(8, { message: 'must be at least 8 characters' }).optional(),
});

/** Variables of services that keep SQL state. */
export const databaseEnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, { message: 'must be a postgres:// URL' })
    .optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'must be a lowercase SQL identifier' })
    .optional(),
});

export { port as portSchema };

/**
 * Reads the environment once, at start-up, through the service's schema. Nothing else in a
 * service reads process.env.
 */
export function loadConfig<T extends z.ZodType>(
  schema: T,
  env: Record<string, string | undefined>,
): z.infer<T> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const variables = [
    ...new Set(result.error.issues.map((issue) => String(issue.path[0] ?? '(env)'))),
  ];
  const details = result.error.issues.map(
    (issue) => `${String(issue.path[0] ?? '(env)')}: ${issue.message}`,
  );
  throw new ConfigError(variables, `invalid configuration: ${details.join('; ')}`);
}

export type BaseConfig = z.infer<typeof baseEnvSchema>;
export type DatabaseConfig = z.infer<typeof databaseEnvSchema>;
