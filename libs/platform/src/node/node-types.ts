import type { RoleProcessExit, SupervisedRole } from '@dln/cluster';
import type { FencingToken, NodeKind, RoleExit, RunningRole } from '@dln/contracts';

/** What a role process carries along in the supervisor. */
export interface RoleMeta {
  token: FencingToken;
  entry: string;
}

/** Who a node is, as it registers. */
export interface NodeIdentity {
  nodeId: string;
  incarnation: string;
  kind: NodeKind;
  slots: number;
  version: string;
  host: string;
}

export function toRunningRole(role: SupervisedRole<RoleMeta>): RunningRole {
  return {
    token: role.meta.token,
    entry: role.meta.entry,
    pid: role.pid,
    state: role.state,
    startedAt: new Date(role.startedAt).toISOString(),
  };
}

export function toRoleExit(exit: RoleProcessExit<RoleMeta>): RoleExit {
  return {
    token: exit.meta.token,
    entry: exit.meta.entry,
    pid: exit.pid,
    code: exit.code,
    signal: exit.signal,
    reason: exit.reason,
    message: exit.message,
    startedAt: new Date(exit.startedAt).toISOString(),
    exitedAt: new Date(exit.exitedAt).toISOString(),
  };
}
