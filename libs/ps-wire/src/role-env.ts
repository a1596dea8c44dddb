import { connectNats } from '@dln/messaging';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';

/** What a role process reads from its environment (inherited from its node): how to reach NATS. */
export const roleEnvSchema = z.object({
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  NATS_TOKEN: z.string().min(1).optional(),
});
export type RoleEnv = z.infer<typeof roleEnvSchema>;

/** Reads the role environment once; a bad value stops the role naming the variable. */
export function loadRoleEnv(env: Record<string, string | undefined>): RoleEnv {
  const parsed = roleEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new Error(
      `invalid role environment: ${parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

/** The one NATS connection of a role process. */
export function connectRole(env: RoleEnv, name: string): Promise<NatsConnection> {
  return connectNats({
    servers: env.NATS_URL,
    name,
    ...(env.NATS_USER !== undefined ? { user: env.NATS_USER } : {}),
    ...(env.NATS_PASSWORD !== undefined ? { pass: env.NATS_PASSWORD } : {}),
    ...(env.NATS_TOKEN !== undefined ? { token: env.NATS_TOKEN } : {}),
  });
}
