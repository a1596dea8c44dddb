import {
  FencingToken,
  NodeEventType,
  NodeHeartbeat,
  NodeHeartbeatReply,
  NodeKind,
  NodeRegistration,
  NodeRegistrationAck,
  NodeStatus,
  NODE_TRANSITIONS,
  RunningRole,
  assertTransition,
} from '@dln/contracts';
import { Clock, systemClock } from './clock';

/** Identity of one incarnation of a role (a new attempt or generation is another role). */
export function roleKey(token: FencingToken): string {
  return `${token.jobId}/${token.role}/g${token.generation}a${token.attempt}`;
}

/** One node as the registry keeps it; also the shape the AM persists and restores. */
export interface NodeRecord {
  registration: Omit<NodeRegistration, 'runningRoles'>;
  status: NodeStatus;
  registeredAt: number;
  lastHeartbeatAt: number | null;
  lastSeq: number;
  runningRoles: RunningRole[];
  /** Role keys the AM has placed here and not yet released. */
  reservations: string[];
}

/** A status change or registration, to be recorded by the caller (one event row each). */
export interface NodeEvent {
  nodeId: string;
  type: NodeEventType;
  from: NodeStatus | null;
  to: NodeStatus;
  reason: string;
  at: number;
}

export interface SlotUsage {
  total: number;
  used: number;
  free: number;
}

export interface NodeRegistryOptions {
  heartbeatIntervalMs: number;
  /** Missed intervals after which a node is LOST (3 per ../shared/ARCHITECTURE.md). */
  lossAfterMissed: number;
  clock?: Clock;
  /**
   * A slot reserved for a role that the node never reports running is freed after this long
   * (default 60 s): a lost release (an exit report handled before a restarted AM re-reserved
   * its roles, a command whose answer never came) must not leak the slot for ever.
   */
  reservationTtlMs?: number;
}

const DEFAULT_RESERVATION_TTL_MS = 60_000;

export interface RegisterResult {
  ack: NodeRegistrationAck;
  events: NodeEvent[];
  /** Roles the previous incarnation of a restarted node was running; they are gone. */
  lostRoles: RunningRole[];
}

interface Entry extends NodeRecord {
  /** Liveness counts from here: the last heartbeat, registration or restore. */
  lastSeenAt: number;
  /** When each reservation was made (or restored); not persisted. */
  reservedAt: Map<string, number>;
}

/**
 * The AM's table of nodes: registration, heartbeats, loss detection and slot accounting. Pure
 * logic: it returns the events it produces, and the caller records them.
 */
export class NodeRegistry {
  private readonly nodes = new Map<string, Entry>();
  private readonly clock: Clock;

  constructor(private readonly options: NodeRegistryOptions) {
    if (!Number.isSafeInteger(options.heartbeatIntervalMs) || options.heartbeatIntervalMs <= 0) {
      throw new Error('heartbeatIntervalMs must be a positive integer');
    }
    if (!Number.isSafeInteger(options.lossAfterMissed) || options.lossAfterMissed < 1) {
      throw new Error('lossAfterMissed must be a positive integer');
    }
    this.clock = options.clock ?? systemClock;
  }

  /** Silence longer than this makes a node LOST. */
  get lossTimeoutMs(): number {
    return this.options.heartbeatIntervalMs * this.options.lossAfterMissed;
  }

  /**
   * Reloads persisted nodes (AM restart). Every node gets a full timeout counted from
   * `graceMs` after now: the AM may take a while before it hears heartbeats again.
   */
  restore(records: readonly NodeRecord[], graceMs = 0): void {
    const now = this.clock.now() + Math.max(0, graceMs);
    for (const record of records) {
      this.nodes.set(record.registration.nodeId, {
        ...record,
        runningRoles: [...record.runningRoles],
        reservations: [...record.reservations],
        lastSeenAt: now,
        reservedAt: new Map(record.reservations.map((key) => [key, now])),
      });
    }
  }

  register(registration: NodeRegistration): RegisterResult {
    const now = this.clock.now();
    const { runningRoles, ...identity } = registration;
    const previous = this.nodes.get(registration.nodeId);
    const events: NodeEvent[] = [];
    let lostRoles: RunningRole[] = [];
    let reservations: string[] = [];
    if (!previous) {
      events.push(
        this.event(registration.nodeId, NodeEventType.Registered, null, 'registered', now),
      );
    } else {
      const restarted = previous.registration.incarnation !== registration.incarnation;
      const type = restarted ? NodeEventType.Restarted : NodeEventType.Reregistered;
      const reason = restarted
        ? `new incarnation ${registration.incarnation} (was ${previous.registration.incarnation})`
        : 're-registered';
      if (previous.status !== NodeStatus.Alive) {
        assertTransition('node', NODE_TRANSITIONS, previous.status, NodeStatus.Alive);
      }
      events.push(this.event(registration.nodeId, type, previous.status, reason, now));
      const reported = new Set(runningRoles.map((role) => roleKey(role.token)));
      if (restarted) {
        lostRoles = previous.runningRoles.filter((role) => !reported.has(roleKey(role.token)));
        const lostKeys = new Set(lostRoles.map((role) => roleKey(role.token)));
        reservations = previous.reservations.filter((key) => !lostKeys.has(key));
      } else {
        reservations = previous.reservations;
      }
    }
    this.nodes.set(registration.nodeId, {
      registration: identity,
      status: NodeStatus.Alive,
      registeredAt: now,
      lastHeartbeatAt: previous?.lastHeartbeatAt ?? null,
      lastSeq:
        previous && previous.registration.incarnation === registration.incarnation
          ? previous.lastSeq
          : -1,
      runningRoles: [...runningRoles],
      reservations,
      lastSeenAt: now,
      reservedAt: new Map(reservations.map((key) => [key, previous?.reservedAt.get(key) ?? now])),
    });
    return { ack: this.ack(registration.nodeId, previous !== undefined), events, lostRoles };
  }

  /** A heartbeat from an unknown node or an old incarnation gets `known: false`: register again. */
  heartbeat(heartbeat: NodeHeartbeat): { reply: NodeHeartbeatReply; events: NodeEvent[] } {
    const entry = this.nodes.get(heartbeat.nodeId);
    if (!entry || entry.registration.incarnation !== heartbeat.incarnation) {
      return { reply: { known: false }, events: [] };
    }
    const now = this.clock.now();
    entry.lastSeenAt = now;
    entry.lastHeartbeatAt = now;
    if (heartbeat.seq > entry.lastSeq) {
      entry.lastSeq = heartbeat.seq;
      entry.runningRoles = [...heartbeat.runningRoles];
    }
    const events: NodeEvent[] = [];
    if (entry.status === NodeStatus.Lost) {
      events.push(
        this.transition(entry, NodeStatus.Alive, NodeEventType.Alive, 'heartbeats resumed', now),
      );
    }
    return { reply: { known: true }, events };
  }

  /**
   * The AM itself was cut off (its NATS connection dropped): heartbeats it could not hear are no
   * evidence against the nodes. Every node's silence counts again from `graceMs` after now.
   */
  excuseSilence(graceMs = 0): void {
    const from = this.clock.now() + Math.max(0, graceMs);
    for (const entry of this.nodes.values()) entry.lastSeenAt = Math.max(entry.lastSeenAt, from);
  }

  /** Declares LOST every ALIVE node silent for longer than the loss timeout. */
  sweep(now: number = this.clock.now()): NodeEvent[] {
    const events: NodeEvent[] = [];
    for (const entry of this.nodes.values()) {
      const silentMs = now - entry.lastSeenAt;
      if (entry.status === NodeStatus.Alive && silentMs > this.lossTimeoutMs) {
        const reason = `no heartbeat for ${silentMs} ms (${this.options.lossAfterMissed} x ${this.options.heartbeatIntervalMs} ms missed)`;
        events.push(this.transition(entry, NodeStatus.Lost, NodeEventType.Lost, reason, now));
      }
    }
    return events;
  }

  /** When the node becomes LOST if nothing arrives in between. */
  lossDeadline(nodeId: string): number | undefined {
    const entry = this.nodes.get(nodeId);
    return entry ? entry.lastSeenAt + this.lossTimeoutMs : undefined;
  }

  get(nodeId: string): NodeRecord | undefined {
    const entry = this.nodes.get(nodeId);
    return entry ? this.toRecord(entry) : undefined;
  }

  list(): NodeRecord[] {
    return [...this.nodes.values()]
      .map((entry) => this.toRecord(entry))
      .sort((a, b) => a.registration.nodeId.localeCompare(b.registration.nodeId));
  }

  /** Used slots: the roles the node reports plus those placed here that it has not reported yet. */
  slots(nodeId: string): SlotUsage | undefined {
    const entry = this.nodes.get(nodeId);
    if (!entry) return undefined;
    this.pruneReservations(entry);
    const keys = new Set(entry.reservations);
    for (const role of entry.runningRoles) keys.add(roleKey(role.token));
    const total = entry.registration.slots;
    return { total, used: keys.size, free: Math.max(0, total - keys.size) };
  }

  /** ALIVE nodes of a kind with at least one free slot, most free slots first, then by id. */
  nodesWithFreeSlots(kind: NodeKind): NodeRecord[] {
    return this.list()
      .filter((node) => node.status === NodeStatus.Alive && node.registration.kind === kind)
      .map((node) => ({ node, free: this.slots(node.registration.nodeId)?.free ?? 0 }))
      .filter(({ free }) => free > 0)
      .sort((a, b) => b.free - a.free)
      .map(({ node }) => node);
  }

  /** Takes a slot for a role the AM places on the node; false when none is free. */
  reserve(nodeId: string, token: FencingToken): boolean {
    const entry = this.nodes.get(nodeId);
    const usage = this.slots(nodeId);
    const key = roleKey(token);
    if (!entry || !usage) return false;
    if (entry.reservations.includes(key)) return true;
    if (entry.runningRoles.some((role) => roleKey(role.token) === key)) return true;
    if (usage.free < 1) return false;
    entry.reservations.push(key);
    entry.reservedAt.set(key, this.clock.now());
    return true;
  }

  /**
   * A reservation ends when the node reports the role running (its heartbeats count it from
   * then on) or when it is older than the reservation TTL.
   */
  private pruneReservations(entry: Entry): void {
    const now = this.clock.now();
    const ttl = this.options.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
    const running = new Set(entry.runningRoles.map((role) => roleKey(role.token)));
    entry.reservations = entry.reservations.filter((key) => {
      const since = entry.reservedAt.get(key) ?? now;
      const keep = !running.has(key) && now - since < ttl;
      if (!keep) entry.reservedAt.delete(key);
      return keep;
    });
  }

  /** Frees the slot of a role that ended or was moved away. */
  release(nodeId: string, token: FencingToken): void {
    const entry = this.nodes.get(nodeId);
    if (!entry) return;
    const key = roleKey(token);
    entry.reservations = entry.reservations.filter((candidate) => candidate !== key);
    entry.reservedAt.delete(key);
    entry.runningRoles = entry.runningRoles.filter((role) => roleKey(role.token) !== key);
  }

  private ack(nodeId: string, known: boolean): NodeRegistrationAck {
    return {
      nodeId,
      known,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      lossAfterMissed: this.options.lossAfterMissed,
    };
  }

  private transition(
    entry: Entry,
    to: NodeStatus,
    type: NodeEventType,
    reason: string,
    at: number,
  ): NodeEvent {
    assertTransition('node', NODE_TRANSITIONS, entry.status, to);
    const from = entry.status;
    entry.status = to;
    return { nodeId: entry.registration.nodeId, type, from, to, reason, at };
  }

  private event(
    nodeId: string,
    type: NodeEventType,
    from: NodeStatus | null,
    reason: string,
    at: number,
  ): NodeEvent {
    return { nodeId, type, from, to: NodeStatus.Alive, reason, at };
  }

  private toRecord(entry: Entry): NodeRecord {
    const { lastSeenAt: _lastSeenAt, reservedAt: _reservedAt, ...record } = entry;
    return {
      ...record,
      registration: { ...record.registration },
      runningRoles: [...record.runningRoles],
      reservations: [...record.reservations],
    };
  }
}
