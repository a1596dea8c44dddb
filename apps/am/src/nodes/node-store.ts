import { NodeKind, NodeStatus, RunningRole, NodeEventType } from '@dln/contracts';
import type { NodeEvent, NodeRecord } from '@dln/cluster';
import { DataSource, NodeEventRow, NodeRow } from '@dln/persistence';

/** Most events GET /v1/nodes/{id} returns (the newest ones). */
export const MAX_EVENTS_PER_NODE_VIEW = 500;

function toRow(record: NodeRecord, now: number): NodeRow {
  const row = new NodeRow();
  const reg = record.registration;
  Object.assign(row, {
    nodeId: reg.nodeId,
    incarnation: reg.incarnation,
    kind: reg.kind,
    slots: reg.slots,
    version: reg.version,
    host: reg.host,
    httpPort: reg.httpPort,
    startedAt: reg.startedAt,
    status: record.status,
    registeredAt: record.registeredAt,
    lastHeartbeatAt: record.lastHeartbeatAt,
    lastSeq: record.lastSeq,
    runningRoles: record.runningRoles,
    reservations: record.reservations,
    updatedAt: now,
  });
  return row;
}

function toRecord(row: NodeRow): NodeRecord {
  return {
    registration: {
      nodeId: row.nodeId,
      incarnation: row.incarnation,
      kind: row.kind as NodeKind,
      slots: row.slots,
      version: row.version,
      host: row.host,
      httpPort: row.httpPort,
      startedAt: row.startedAt,
    },
    status: row.status as NodeStatus,
    registeredAt: row.registeredAt,
    lastHeartbeatAt: row.lastHeartbeatAt,
    lastSeq: row.lastSeq,
    runningRoles: (row.runningRoles ?? []) as RunningRole[],
    reservations: (row.reservations ?? []) as string[],
  };
}

/** The am's node tables: current state per node and the append-only event log. */
export class NodeStore {
  constructor(private readonly dataSource: DataSource) {}

  async loadAll(): Promise<NodeRecord[]> {
    const rows = await this.dataSource.getRepository(NodeRow).find({ order: { nodeId: 'ASC' } });
    return rows.map(toRecord);
  }

  /** Saves node states and appends events in one transaction, so a row never lacks its event. */
  async save(
    records: readonly NodeRecord[],
    events: readonly NodeEvent[],
    now: number,
  ): Promise<void> {
    if (records.length === 0 && events.length === 0) return;
    await this.dataSource.transaction(async (manager) => {
      if (records.length > 0)
        await manager.getRepository(NodeRow).save(records.map((r) => toRow(r, now)));
      if (events.length > 0) {
        await manager.getRepository(NodeEventRow).insert(
          events.map((event) => ({
            nodeId: event.nodeId,
            type: event.type,
            fromStatus: event.from,
            toStatus: event.to,
            reason: event.reason.slice(0, 2000),
            at: event.at,
          })),
        );
      }
    });
  }

  /** The newest events of a node, oldest first. */
  async events(nodeId: string): Promise<NodeEvent[]> {
    const rows = await this.dataSource
      .getRepository(NodeEventRow)
      .find({ where: { nodeId }, order: { id: 'DESC' }, take: MAX_EVENTS_PER_NODE_VIEW });
    return rows.reverse().map((row) => ({
      nodeId: row.nodeId,
      type: row.type as NodeEventType,
      from: row.fromStatus as NodeStatus | null,
      to: row.toStatus as NodeStatus,
      reason: row.reason,
      at: row.at,
    }));
  }
}
