import { baseEnvSchema, databaseEnvSchema, loadConfig, portSchema } from '@dln/platform';
import { z } from 'zod';

export const amEnvSchema = baseEnvSchema.extend(databaseEnvSchema.shape).extend({
  PORT: portSchema.default(3000),
});
export type AmConfig = z.infer<typeof amEnvSchema>;

export function loadAmConfig(env: Record<string, string | undefined>): AmConfig {
  return loadConfig(amEnvSchema, env);
}
