import { runRoleProcess } from '@dln/cluster';

/**
 * Entry module of a parameter-server shard role, run by the node in a child process of its own.
 * THIS IS WHERE THE PS SHARD PLUGS IN (batch-training issue): validate `config` as the job's
 * RoleConfig, initialize or restore its variables, serve pull/push on its shard subjects. For
 * now the role only proves the plumbing: it receives its config, reports ready, and waits until
 * it is told to stop (SIGTERM or its node going away), then exits 0. It serves nothing.
 */
runRoleProcess(async ({ key, config, signal, ready }) => {
  const log = (msg: string): void => {
    process.stdout.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: 'info', service: 'ps-role', role: key, msg, configKeys: Object.keys(config) })}\n`,
    );
  };
  ready();
  log('ps role ready (placeholder: no shard served yet)');
  await new Promise<void>((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  log('ps role stopping');
});
