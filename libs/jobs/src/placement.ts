import { NodeKind } from '@dln/contracts';
import { RoleKind } from './roles';

/** Free capacity of one ALIVE node, as the registry reports it. */
export interface NodeCapacity {
  nodeId: string;
  kind: NodeKind;
  free: number;
}

export interface RoleToPlace {
  role: string;
  kind: RoleKind;
  /** The node a replacement's predecessor ran on: taken first when it has a free slot. */
  preferNode?: string | null;
}

export type PlacementResult =
  | { placed: true; assignments: { role: string; nodeId: string }[] }
  | { placed: false; reason: string };

const NODE_KIND_OF: Record<RoleKind, NodeKind> = {
  [RoleKind.Ps]: NodeKind.ParameterServer,
  [RoleKind.Worker]: NodeKind.Worker,
};

/**
 * Places ps roles on parameter-server nodes and workers on worker nodes. Each role goes to the
 * node of its kind with the most free slots left (a replacement: its predecessor's node first; ties: the node with fewer roles of this job,
 * then node id), so a job spreads over the nodes instead of filling the first one. Deterministic
 * for the same inputs; all or nothing: when one role cannot be placed, none is, and the reason
 * says what is missing.
 */
export function placeRoles(
  roles: readonly RoleToPlace[],
  capacity: readonly NodeCapacity[],
): PlacementResult {
  const free = new Map<string, number>();
  const used = new Map<string, number>();
  for (const node of capacity) {
    if (!Number.isSafeInteger(node.free) || node.free < 0)
      throw new Error(`node ${node.nodeId} reports ${node.free} free slots`);
    free.set(node.nodeId, node.free);
    used.set(node.nodeId, 0);
  }
  const missing: string[] = [];
  for (const kind of [RoleKind.Ps, RoleKind.Worker]) {
    const wanted = roles.filter((role) => role.kind === kind).length;
    const available = capacity
      .filter((node) => node.kind === NODE_KIND_OF[kind])
      .reduce((sum, node) => sum + node.free, 0);
    if (wanted > available) {
      const nodes = capacity.filter((node) => node.kind === NODE_KIND_OF[kind]).length;
      missing.push(
        `${wanted} ${kind} role(s) need ${wanted} free ${NODE_KIND_OF[kind]} slot(s), ${available} free on ${nodes} alive node(s)`,
      );
    }
  }
  if (missing.length > 0) return { placed: false, reason: missing.join('; ') };
  const assignments: { role: string; nodeId: string }[] = [];
  for (const role of roles) {
    const candidates = capacity
      .filter((node) => node.kind === NODE_KIND_OF[role.kind] && (free.get(node.nodeId) ?? 0) > 0)
      .sort(
        (a, b) =>
          Number(b.nodeId === role.preferNode) - Number(a.nodeId === role.preferNode) ||
          (free.get(b.nodeId) ?? 0) - (free.get(a.nodeId) ?? 0) ||
          (used.get(a.nodeId) ?? 0) - (used.get(b.nodeId) ?? 0) ||
          (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0),
      );
    const target = candidates[0];
    if (!target)
      return { placed: false, reason: `no free ${NODE_KIND_OF[role.kind]} slot for ${role.role}` };
    free.set(target.nodeId, (free.get(target.nodeId) ?? 0) - 1);
    used.set(target.nodeId, (used.get(target.nodeId) ?? 0) + 1);
    assignments.push({ role: role.role, nodeId: target.nodeId });
  }
  return { placed: true, assignments };
}
