import { RoleStartError, RoleSupervisor, roleKey } from '@dln/cluster';
import {
  AssignRoleCommand,
  ConflictError,
  DlnError,
  ErrorBody,
  ErrorCode,
  NodeCommandReply,
  NotFoundError,
  StopRoleCommand,
  ValidationError,
  nodeCommandSchema,
  parseInput,
} from '@dln/contracts';
import { Msg, decodeJson, encodeJson } from '@dln/messaging';
import { Logger } from '@nestjs/common';
import { NodeIdentity, RoleMeta, toRoleExit, toRunningRole } from './node-types';

/**
 * Answers the AM's commands on the node's command subject. Both commands are idempotent, so the
 * AM may repeat one it got no answer to: assigning a running role returns it, stopping an
 * unknown role returns no role.
 */
export class NodeCommandHandler {
  private readonly logger = new Logger(NodeCommandHandler.name);

  constructor(
    private readonly identity: NodeIdentity,
    private readonly roleEntries: Readonly<Record<string, string>>,
    private readonly supervisor: RoleSupervisor<RoleMeta>,
    private readonly defaultGraceMs: number,
  ) {}

  async handle(msg: Msg): Promise<void> {
    let body: NodeCommandReply | ErrorBody;
    try {
      const command = parseInput(nodeCommandSchema, decodeCommand(msg.data), 'node command');
      body = command.type === 'assign' ? await this.assign(command) : await this.stop(command);
    } catch (error) {
      body = errorBody(error);
      if (!(error instanceof DlnError))
        this.logger.error({ msg: 'node command failed', error: String(error) });
    }
    if (msg.reply) msg.respond(encodeJson(body));
  }

  private async assign(command: AssignRoleCommand): Promise<NodeCommandReply> {
    const key = roleKey(command.token);
    const existing = this.supervisor.get(key);
    if (existing)
      return { nodeId: this.identity.nodeId, role: toRunningRole(existing), exit: null };
    const modulePath = this.roleEntries[command.entry];
    if (!modulePath) throw new NotFoundError('role entry', command.entry);
    if (this.supervisor.size >= this.identity.slots) {
      throw new ConflictError(
        `node ${this.identity.nodeId} has no free slot (${this.identity.slots} in use)`,
      );
    }
    try {
      const role = await this.supervisor.start({
        key,
        modulePath,
        config: command.config,
        meta: { token: command.token, entry: command.entry },
      });
      this.logger.log({
        msg: 'role started',
        ...command.token,
        entry: command.entry,
        pid: role.pid,
      });
      return { nodeId: this.identity.nodeId, role: toRunningRole(role), exit: null };
    } catch (error) {
      if (error instanceof RoleStartError && error.kind === 'duplicate') {
        throw new ConflictError(`role ${key} is already starting`);
      }
      throw new DlnError(ErrorCode.Internal, `role ${key} could not start: ${String(error)}`, {
        cause: error,
      });
    }
  }

  private async stop(command: StopRoleCommand): Promise<NodeCommandReply> {
    const key = roleKey(command.token);
    this.logger.log({ msg: 'stopping role', ...command.token, reason: command.reason });
    const exit = await this.supervisor.stop(key, command.graceMs ?? this.defaultGraceMs);
    if (!exit) return { nodeId: this.identity.nodeId, role: null, exit: null };
    return { nodeId: this.identity.nodeId, role: null, exit: toRoleExit(exit) };
  }
}

function decodeCommand(data: Uint8Array): unknown {
  try {
    return decodeJson(data);
  } catch {
    throw new ValidationError('node command is not valid JSON');
  }
}

function errorBody(error: unknown): ErrorBody {
  if (error instanceof DlnError) return error.toBody();
  return { error: { code: ErrorCode.Internal, message: 'internal error', retryable: false } };
}
