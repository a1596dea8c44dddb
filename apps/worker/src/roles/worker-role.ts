import { runRoleProcess } from '@dln/cluster';
import { roleProcessMain, runAnyWorkerRole } from '@dln/ps-wire';

/**
 * Entry module of a worker role, run by the node in a child process of its own (RoleSupervisor):
 * validates its RoleConfig, reads its part of the examples, trains with the ps shards over NATS
 * and reports to the AM; exits 0 when done, non-zero after a `failed` report.
 */
runRoleProcess((context) =>
  roleProcessMain('worker-role', context, process.env, (config, runtime) =>
    runAnyWorkerRole(config, runtime),
  ),
);
