import { NodeEvent, NodeRecord, NodeRegistry, systemClock } from '@dln/cluster';
import {
  FencingToken,
  NodeDetail,
  NodeHeartbeat,
  NodeHeartbeatReply,
  NodeRegistration,
  NodeRegistrationAck,
  NodeView,
  NotFoundError,
  RoleExitReport,
} from '@dln/contracts';
import type { NatsConnection } from '@dln/messaging';
import { DATA_SOURCE, NATS_CONNECTION } from '@dln/platform';
import type { DataSource } from '@dln/persistence';
import {
  Inject,
  Injectable,
  Logger,
  OnModuleDestroy,
  OnModuleInit,
  Optional,
} from '@nestjs/common';
import { NodeStore } from './node-store';
import { NODE_REGISTRY_SETTINGS, NodeRegistrySettings } from './nodes.tokens';

/** How often heartbeat times are written to SQL (status changes are written at once). */
const HEARTBEAT_FLUSH_MS = 5_000;

export type RoleExitListener = (report: RoleExitReport) => void | Promise<void>;
/** Roles a node no longer runs without an exit report (the node process restarted). */
export type RolesLostListener = (
  nodeId: string,
  tokens: readonly FencingToken[],
  reason: string,
) => void | Promise<void>;

/**
 * The AM's node registry: the pure NodeRegistry kept in memory, every registration and status
 * change written to SQL as it happens, a sweep that declares silent nodes LOST. On start it
 * reloads the nodes, so a restarted AM keeps every node that goes on heartbeating.
 */
@Injectable()
export class NodeRegistryService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(NodeRegistryService.name);
  private readonly registry: NodeRegistry;
  private readonly store: NodeStore;
  private readonly dirty = new Set<string>();
  private readonly roleExitListeners: RoleExitListener[] = [];
  private readonly rolesLostListeners: RolesLostListener[] = [];
  private writes: Promise<void> = Promise.resolve();
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastFlush = 0;
  /** The AM's own NATS connection is down: nodes' silence proves nothing, no sweep. */
  private deaf = false;
  private markLoaded: () => void = () => undefined;
  /** Resolved once the persisted nodes are back: NATS handlers may be bound before that. */
  private readonly loaded = new Promise<void>((resolve) => (this.markLoaded = resolve));

  constructor(
    @Inject(DATA_SOURCE) dataSource: DataSource,
    @Inject(NODE_REGISTRY_SETTINGS) private readonly settings: NodeRegistrySettings,
    @Optional() @Inject(NATS_CONNECTION) private readonly nats?: NatsConnection,
  ) {
    this.registry = new NodeRegistry({
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
      lossAfterMissed: settings.lossAfterMissed,
      clock: settings.clock ?? systemClock,
    });
    this.store = new NodeStore(dataSource);
  }

  async onModuleInit(): Promise<void> {
    const records = await this.store.loadAll();
    this.registry.restore(records, this.settings.restoreGraceMs);
    this.markLoaded();
    this.logger.log({ msg: 'nodes reloaded', count: records.length });
    this.sweepTimer = setInterval(() => this.sweep(), this.settings.sweepIntervalMs);
    this.sweepTimer.unref();
    void this.watchConnection();
  }

  /**
   * A NATS restart cuts the AM off as much as the nodes: while disconnected nothing is swept, and
   * on reconnect every node gets a full timeout (plus the restore grace) to heartbeat again, so a
   * NATS restart does not make every node LOST and every job roll back.
   */
  private async watchConnection(): Promise<void> {
    if (!this.nats) return;
    try {
      for await (const status of this.nats.status()) {
        if (status.type === 'disconnect') this.deaf = true;
        if (status.type === 'reconnect') {
          this.registry.excuseSilence(this.settings.restoreGraceMs);
          this.deaf = false;
          this.logger.log({ msg: 'NATS reconnected: node silence excused' });
        }
      }
    } catch {
      // the connection closed: the AM is stopping
    }
  }

  /** First step of a shutdown, before the NATS handlers stop: no sweep may run without them. */
  async onModuleDestroy(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.flushHeartbeats(true);
    await this.writes;
  }

  /** The registry itself, for placement (slots, reservations) by the job scheduler. */
  get nodes(): NodeRegistry {
    return this.registry;
  }

  onRoleExit(listener: RoleExitListener): void {
    this.roleExitListeners.push(listener);
  }

  onRolesLost(listener: RolesLostListener): void {
    this.rolesLostListeners.push(listener);
  }

  async register(registration: NodeRegistration): Promise<NodeRegistrationAck> {
    await this.loaded;
    const result = this.registry.register(registration);
    for (const event of result.events) this.logEvent(event);
    if (result.lostRoles.length > 0) {
      this.logger.warn({
        msg: 'node restarted; its roles are gone',
        nodeId: registration.nodeId,
        roles: result.lostRoles.length,
      });
      const tokens = result.lostRoles.map((role) => role.token);
      const reason = `node ${registration.nodeId} restarted (incarnation ${registration.incarnation}); its role processes are gone`;
      // Not awaited: the node's registration must not wait for the jobs' failover.
      for (const listener of this.rolesLostListeners)
        void Promise.resolve(listener(registration.nodeId, tokens, reason)).catch(
          (error: unknown) =>
            this.logger.error({ msg: 'roles-lost listener failed', error: String(error) }),
        );
    }
    this.dirty.delete(registration.nodeId);
    await this.persist([registration.nodeId], result.events);
    return result.ack;
  }

  async heartbeat(heartbeat: NodeHeartbeat): Promise<NodeHeartbeatReply> {
    await this.loaded;
    const { reply, events } = this.registry.heartbeat(heartbeat);
    if (!reply.known) return reply;
    for (const event of events) this.logEvent(event);
    if (events.length > 0) void this.persist([heartbeat.nodeId], events);
    else this.dirty.add(heartbeat.nodeId);
    return reply;
  }

  /** A role process ended: its slot is free; listeners (the job scheduler) decide what follows. */
  async roleExited(report: RoleExitReport): Promise<void> {
    await this.loaded;
    this.registry.release(report.nodeId, report.exit.token);
    this.logger.log({
      msg: 'role exited',
      nodeId: report.nodeId,
      ...report.exit.token,
      reason: report.exit.reason,
    });
    for (const listener of this.roleExitListeners) await listener(report);
    this.dirty.add(report.nodeId);
  }

  /** Runs one sweep now (the timer calls this); returns the events it produced. */
  sweep(now?: number): NodeEvent[] {
    const events = this.deaf ? [] : this.registry.sweep(now);
    for (const event of events) this.logEvent(event);
    if (events.length > 0) void this.persist([...new Set(events.map((e) => e.nodeId))], events);
    this.flushHeartbeats(false);
    return events;
  }

  list(): NodeView[] {
    return this.registry.list().map((record) => this.view(record));
  }

  async detail(nodeId: string): Promise<NodeDetail> {
    const record = this.registry.get(nodeId);
    if (!record) throw new NotFoundError('node', nodeId);
    await this.writes;
    const events = await this.store.events(nodeId);
    return {
      ...this.view(record),
      events: events.map((event) => ({ ...event, at: new Date(event.at).toISOString() })),
    };
  }

  private view(record: NodeRecord): NodeView {
    const slots = this.registry.slots(record.registration.nodeId) ?? { total: 0, used: 0, free: 0 };
    return {
      ...record.registration,
      status: record.status,
      registeredAt: new Date(record.registeredAt).toISOString(),
      lastHeartbeatAt:
        record.lastHeartbeatAt === null ? null : new Date(record.lastHeartbeatAt).toISOString(),
      slots,
      runningRoles: record.runningRoles,
    };
  }

  private flushHeartbeats(force: boolean): void {
    const now = Date.now();
    if (this.dirty.size === 0 || (!force && now - this.lastFlush < HEARTBEAT_FLUSH_MS)) return;
    this.lastFlush = now;
    const ids = [...this.dirty];
    this.dirty.clear();
    void this.persist(ids, []);
  }

  /** Writes run one after another, so events land in the order they happened; never rejects. */
  private persist(nodeIds: readonly string[], events: readonly NodeEvent[]): Promise<void> {
    const records = nodeIds
      .map((id) => this.registry.get(id))
      .filter((r): r is NodeRecord => r !== undefined);
    this.writes = this.writes
      .then(() => this.store.save(records, events, Date.now()))
      .catch((error: unknown) => {
        this.logger.error({
          msg: 'could not record node state',
          error: String(error),
          events: events.length,
        });
      });
    return this.writes;
  }

  private logEvent(event: NodeEvent): void {
    const entry = {
      msg: 'node event',
      nodeId: event.nodeId,
      type: event.type,
      from: event.from,
      to: event.to,
      reason: event.reason,
    };
    if (event.to === 'LOST') this.logger.warn(entry);
    else this.logger.log(entry);
  }
}
