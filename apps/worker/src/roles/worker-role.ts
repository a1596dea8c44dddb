import { runRoleProcess } from '@dln/cluster';

/**
 * Entry module of a worker role, run by the node in a child process of its own (RoleSupervisor).
 * THIS IS WHERE THE TRAINING LOOP PLUGS IN (batch-training issue): validate `config` as the
 * job's RoleConfig, pull parameters, compute gradients, push them. For now the role only proves
 * the plumbing: it receives its config, reports ready, and waits until it is told to stop
 * (SIGTERM or its node going away), then exits 0. It does not train.
 */
runRoleProcess(async ({ key, config, signal, ready }) => {
  const log = (msg: string): void => {
    process.stdout.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: 'info', service: 'worker-role', role: key, msg, configKeys: Object.keys(config) })}\n`,
    );
  };
  ready();
  log('worker role ready (placeholder: no training loop yet)');
  await new Promise<void>((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  log('worker role stopping');
});
