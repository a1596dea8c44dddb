import { runRoleProcess } from '@dln/cluster';
import { roleProcessMain, runPsRoleOfAnyMode } from '@dln/ps-wire';

/**
 * Entry module of a parameter-server shard role, run by the node in a child process of its own:
 * validates its RoleConfig, initializes (or restores) its shard and serves pull/push on its
 * subjects until stopped, checkpoints going to the Object Store with a report to the AM; an
 * inference job's shard loads its slice of the model version and serves pulls only.
 */
runRoleProcess((context) => roleProcessMain('ps-role', context, process.env, runPsRoleOfAnyMode));
