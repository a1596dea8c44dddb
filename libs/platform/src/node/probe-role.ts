import { runRoleProcess } from '@dln/cluster';

/**
 * The `probe-role` entry every node ships: a role that does no work. It reports ready, holds
 * its slot until it is stopped (SIGTERM, or its node going away) and exits 0. It lets operators
 * and tests check a node's role supervision end to end without starting a training role.
 */
runRoleProcess(async ({ signal, ready }) => {
  ready();
  await new Promise<void>((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
});
