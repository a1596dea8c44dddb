import { connectRole, loadRoleEnv } from '../role-env';
import { reportingFailure, RoleLog, RoleRuntime } from './role-runtime';

/** The part of @dln/cluster's RoleContext a role main needs. */
export interface RoleProcessContext {
  key: string;
  config: Record<string, unknown>;
  signal: AbortSignal;
  ready(): void;
}

export type RoleRunner = (config: unknown, runtime: RoleRuntime) => Promise<void>;

/** JSON log lines on stdout with the service and the role key in every line. */
export function jsonRoleLog(service: string, role: string): RoleLog {
  return (level, msg, fields = {}) => {
    const line = { time: new Date().toISOString(), level, service, role, msg, ...fields };
    (level === 'error' ? process.stderr : process.stdout).write(`${JSON.stringify(line)}\n`);
  };
}

/**
 * The body of a role entry module: reads the role environment, opens the role's one NATS
 * connection, runs the role (reporting `failed` to the AM when it throws) and closes the
 * connection. Pass it to @dln/cluster's runRoleProcess, which sets the exit code.
 */
export async function roleProcessMain(
  service: string,
  context: RoleProcessContext,
  env: Record<string, string | undefined>,
  runner: RoleRunner,
): Promise<void> {
  const log = jsonRoleLog(service, context.key);
  const roleEnv = loadRoleEnv(env);
  const nc = await connectRole(roleEnv, `${service}:${context.key}`);
  const runtime: RoleRuntime = { nc, signal: context.signal, ready: () => context.ready(), log };
  try {
    await reportingFailure(runtime, context.config, () => runner(context.config, runtime));
  } finally {
    await nc.drain().catch(() => undefined);
  }
}
