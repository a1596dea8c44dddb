import { z } from 'zod';
import { fencingTokenSchema } from './fencing';
import { resourceName } from './names';
import { NodeStatus } from './state-machines';

/** What kind of roles a node service offers slots for. */
export const NodeKind = { Worker: 'worker', ParameterServer: 'parameter-server' } as const;
export type NodeKind = (typeof NodeKind)[keyof typeof NodeKind];
export const nodeKindSchema = z.enum([NodeKind.Worker, NodeKind.ParameterServer]);

/** Bounds that keep one node's messages small and its numbers sane. */
export const NODE_LIMITS = {
  maxSlots: 256,
  maxRolesPerMessage: 256,
  maxRoleConfigBytes: 256 * 1024,
  minHeartbeatIntervalMs: 50,
  maxHeartbeatIntervalMs: 60_000,
} as const;

const isoTime = z.iso.datetime({ offset: true });
const shortText = (max: number) => z.string().min(1).max(max);

/** A role process as its node sees it. `starting`: forked, not yet ready; `stopping`: told to stop. */
export const RoleProcessState = {
  Starting: 'starting',
  Running: 'running',
  Stopping: 'stopping',
} as const;
export type RoleProcessState = (typeof RoleProcessState)[keyof typeof RoleProcessState];

/** One role running on a node, reported in heartbeats, registrations and the node view. */
export const runningRoleSchema = z.object({
  token: fencingTokenSchema,
  entry: resourceName,
  pid: z.number().int().positive(),
  state: z.enum([RoleProcessState.Starting, RoleProcessState.Running, RoleProcessState.Stopping]),
  startedAt: isoTime,
});
export type RunningRole = z.infer<typeof runningRoleSchema>;

/**
 * node -> am (request on ControlPattern.nodeRegister). Sent at start and whenever the AM says it
 * does not know the node. `incarnation` is fresh per process, so the AM can tell a restarted node
 * (whose previous roles are gone) from one that only lost touch.
 */
export const nodeRegistrationSchema = z.object({
  nodeId: resourceName,
  incarnation: resourceName,
  kind: nodeKindSchema,
  slots: z.number().int().min(1).max(NODE_LIMITS.maxSlots),
  version: shortText(64),
  host: shortText(255),
  /** The node's HTTP port (GET /health); 0 when it serves no HTTP. */
  httpPort: z.number().int().min(0).max(65535),
  startedAt: isoTime,
  runningRoles: z.array(runningRoleSchema).max(NODE_LIMITS.maxRolesPerMessage).default([]),
});
export type NodeRegistration = z.infer<typeof nodeRegistrationSchema>;
export type NodeRegistrationInput = z.input<typeof nodeRegistrationSchema>;

/** am -> node: the registration reply, with the liveness rules the node must follow. */
export const nodeRegistrationAckSchema = z.object({
  nodeId: resourceName,
  /** true when the AM already knew this node id (a re-registration). */
  known: z.boolean(),
  heartbeatIntervalMs: z
    .number()
    .int()
    .min(NODE_LIMITS.minHeartbeatIntervalMs)
    .max(NODE_LIMITS.maxHeartbeatIntervalMs),
  /** The AM declares the node LOST after this many intervals without a heartbeat. */
  lossAfterMissed: z.number().int().min(1).max(100),
});
export type NodeRegistrationAck = z.infer<typeof nodeRegistrationAckSchema>;

/** node -> am (request on ControlPattern.nodeHeartbeat), every heartbeatIntervalMs. */
export const nodeHeartbeatSchema = z.object({
  nodeId: resourceName,
  incarnation: resourceName,
  /** Increases by one per heartbeat of this incarnation; older ones are ignored. */
  seq: z.number().int().nonnegative(),
  sentAt: isoTime,
  runningRoles: z.array(runningRoleSchema).max(NODE_LIMITS.maxRolesPerMessage),
});
export type NodeHeartbeat = z.infer<typeof nodeHeartbeatSchema>;

/** am -> node: heartbeat reply; `known: false` tells the node to register again (e.g. new AM). */
export const nodeHeartbeatReplySchema = z.object({ known: z.boolean() });
export type NodeHeartbeatReply = z.infer<typeof nodeHeartbeatReplySchema>;

const roleConfigSchema = z
  .record(z.string(), z.unknown())
  .refine((value) => JSON.stringify(value).length <= NODE_LIMITS.maxRoleConfigBytes, {
    message: `must serialize to at most ${NODE_LIMITS.maxRoleConfigBytes} bytes`,
  });

/** am -> node: run a role in a child process. `entry` names a role entry module the node ships. */
export const assignRoleCommandSchema = z.object({
  type: z.literal('assign'),
  token: fencingTokenSchema,
  entry: resourceName,
  /** Opaque to the node: handed to the role process as is (job layout, data split, ...). */
  config: roleConfigSchema,
});
export type AssignRoleCommand = z.infer<typeof assignRoleCommandSchema>;

/** am -> node: stop a role (SIGTERM, then SIGKILL after graceMs). */
export const stopRoleCommandSchema = z.object({
  type: z.literal('stop'),
  token: fencingTokenSchema,
  graceMs: z.number().int().min(0).max(600_000).optional(),
  reason: shortText(500),
});
export type StopRoleCommand = z.infer<typeof stopRoleCommandSchema>;

/** Request on Subjects.nodeCommands(nodeId). */
export const nodeCommandSchema = z.discriminatedUnion('type', [
  assignRoleCommandSchema,
  stopRoleCommandSchema,
]);
export type NodeCommand = z.infer<typeof nodeCommandSchema>;

/** Why a role process ended, as its node classifies it. */
export const RoleExitReason = {
  /** Exit code 0 without being asked to stop: the role finished its work. */
  Completed: 'completed',
  /** Ended after a stop command or node shutdown. */
  Stopped: 'stopped',
  /** Non-zero exit code or killed by a signal nobody asked for. */
  Crashed: 'crashed',
  /** The process could not be started. */
  SpawnFailed: 'spawn-failed',
} as const;
export type RoleExitReason = (typeof RoleExitReason)[keyof typeof RoleExitReason];

/** The end of one role process. */
export const roleExitSchema = z.object({
  token: fencingTokenSchema,
  entry: resourceName,
  pid: z.number().int().positive().nullable(),
  code: z.number().int().nullable(),
  signal: z.string().max(32).nullable(),
  reason: z.enum([
    RoleExitReason.Completed,
    RoleExitReason.Stopped,
    RoleExitReason.Crashed,
    RoleExitReason.SpawnFailed,
  ]),
  message: z.string().max(2000).nullable(),
  startedAt: isoTime,
  exitedAt: isoTime,
});
export type RoleExit = z.infer<typeof roleExitSchema>;

/**
 * node -> am: the successful reply to a node command (failures reply with an ErrorBody: CONFLICT
 * when the slots are full or the role already runs, NOT_FOUND for an unknown entry or role).
 */
export const nodeCommandReplySchema = z.object({
  nodeId: resourceName,
  role: runningRoleSchema.nullable(),
  /** For `stop`: the exit, once the process is gone. */
  exit: roleExitSchema.nullable(),
});
export type NodeCommandReply = z.infer<typeof nodeCommandReplySchema>;

/** node -> am (request on ControlPattern.roleExit); re-sent until acknowledged. */
export const roleExitReportSchema = z.object({
  nodeId: resourceName,
  incarnation: resourceName,
  exit: roleExitSchema,
});
export type RoleExitReport = z.infer<typeof roleExitReportSchema>;

/** am -> node: the exit report was recorded. */
export const roleExitAckSchema = z.object({ recorded: z.boolean() });
export type RoleExitAck = z.infer<typeof roleExitAckSchema>;

/** Kinds of node events the AM records (one row each). */
export const NodeEventType = {
  Registered: 'REGISTERED',
  Reregistered: 'REREGISTERED',
  Restarted: 'RESTARTED',
  Lost: 'LOST',
  Alive: 'ALIVE',
} as const;
export type NodeEventType = (typeof NodeEventType)[keyof typeof NodeEventType];

const nodeStatusSchema = z.enum([NodeStatus.Alive, NodeStatus.Lost]);

/** One recorded node event; `from`/`to` are set when the status changed. */
export const nodeEventViewSchema = z.object({
  nodeId: resourceName,
  type: z.enum([
    NodeEventType.Registered,
    NodeEventType.Reregistered,
    NodeEventType.Restarted,
    NodeEventType.Lost,
    NodeEventType.Alive,
  ]),
  from: nodeStatusSchema.nullable(),
  to: nodeStatusSchema,
  reason: z.string(),
  at: isoTime,
});
export type NodeEventView = z.infer<typeof nodeEventViewSchema>;

/** A node as GET /v1/nodes lists it. */
export const nodeViewSchema = z.object({
  nodeId: resourceName,
  incarnation: resourceName,
  kind: nodeKindSchema,
  status: nodeStatusSchema,
  version: z.string(),
  host: z.string(),
  httpPort: z.number().int(),
  startedAt: isoTime,
  registeredAt: isoTime,
  lastHeartbeatAt: isoTime.nullable(),
  slots: z.object({
    total: z.number().int(),
    used: z.number().int(),
    free: z.number().int(),
  }),
  runningRoles: z.array(runningRoleSchema),
});
export type NodeView = z.infer<typeof nodeViewSchema>;

/** GET /v1/nodes */
export const nodeListSchema = z.object({ nodes: z.array(nodeViewSchema) });
export type NodeList = z.infer<typeof nodeListSchema>;

/** GET /v1/nodes/{id}: the node and its recorded events, oldest first. */
export const nodeDetailSchema = nodeViewSchema.extend({ events: z.array(nodeEventViewSchema) });
export type NodeDetail = z.infer<typeof nodeDetailSchema>;
