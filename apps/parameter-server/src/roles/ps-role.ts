import { runRoleProcess } from '@dln/cluster';
import { roleProcessMain, runPsRole } from '@dln/ps-wire';

/**
 * Entry module of a parameter-server shard role, run by the node in a child process of its own:
 * validates its RoleConfig, initializes (or restores) its shard and serves pull/push on its
 * subjects until stopped; checkpoints go to the Object Store with a report to the AM.
 */
runRoleProcess((context) => roleProcessMain('ps-role', context, process.env, runPsRole));
