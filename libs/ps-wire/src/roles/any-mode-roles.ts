import { runInferencePsRole } from './inference-ps-role';
import { runInferenceWorkerRole } from './inference-worker-role';
import { runPsRole } from './ps-role';
import { RoleRuntime } from './role-runtime';
import { runAnyWorkerRole } from './stream-worker-role';

/** Whether a role config (not validated yet) is an inference job's: it carries `inference`. */
export function isInferenceRoleConfig(raw: unknown): boolean {
  return (
    typeof raw === 'object' &&
    raw !== null &&
    (raw as { inference?: unknown }).inference !== undefined
  );
}

/** The worker role of a job of any mode: batch, stream or inference. */
export async function runWorkerRoleOfAnyMode(raw: unknown, runtime: RoleRuntime): Promise<void> {
  if (isInferenceRoleConfig(raw)) await runInferenceWorkerRole(raw, runtime);
  else await runAnyWorkerRole(raw, runtime);
}

/** The ps role of a job of any mode: a training shard, or an inference job's read-only one. */
export function runPsRoleOfAnyMode(raw: unknown, runtime: RoleRuntime): Promise<void> {
  return isInferenceRoleConfig(raw) ? runInferencePsRole(raw, runtime) : runPsRole(raw, runtime);
}
