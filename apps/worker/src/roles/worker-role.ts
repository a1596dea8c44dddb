import { runRoleProcess } from '@dln/cluster';
import { roleProcessMain, runWorkerRoleOfAnyMode } from '@dln/ps-wire';

/**
 * Entry module of a worker role, run by the node in a child process of its own (RoleSupervisor):
 * validates its RoleConfig, then trains with the ps shards over NATS (batch or stream job) or
 * scores with the model version they serve (inference job), reporting to the AM; exits 0 when
 * done, non-zero after a `failed` report.
 */
runRoleProcess((context) =>
  roleProcessMain('worker-role', context, process.env, runWorkerRoleOfAnyMode),
);
