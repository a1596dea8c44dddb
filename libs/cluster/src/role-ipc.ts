/**
 * The IPC protocol between a node process and one of its role processes. Kept free of
 * dependencies so that a role process can load it before anything else.
 */

/** Environment variables a role process is started with. */
export const RoleEnv = {
  /** The supervisor's key of the role (job, role, generation, attempt). */
  key: 'DLN_ROLE_KEY',
  /** The role config as JSON, for a role process started by hand without an IPC channel. */
  config: 'DLN_ROLE_CONFIG',
} as const;

/** node -> role: the role's config, sent once right after the process starts. */
export interface RoleConfigMessage {
  type: 'dln.role.config';
  key: string;
  config: Record<string, unknown>;
}

/** role -> node: the role finished starting and does its work now. */
export interface RoleReadyMessage {
  type: 'dln.role.ready';
}

/** role -> node: why the role is about to exit with an error (goes into its exit report). */
export interface RoleFailedMessage {
  type: 'dln.role.failed';
  message: string;
}

export type RoleToNodeMessage = RoleReadyMessage | RoleFailedMessage;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isRoleConfigMessage(value: unknown): value is RoleConfigMessage {
  return (
    isObject(value) &&
    value['type'] === 'dln.role.config' &&
    typeof value['key'] === 'string' &&
    isObject(value['config'])
  );
}

export function isRoleToNodeMessage(value: unknown): value is RoleToNodeMessage {
  if (!isObject(value)) return false;
  if (value['type'] === 'dln.role.ready') return true;
  return value['type'] === 'dln.role.failed' && typeof value['message'] === 'string';
}
