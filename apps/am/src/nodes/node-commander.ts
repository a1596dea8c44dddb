import {
  AssignRoleCommand,
  ConflictError,
  NodeCommandReply,
  StopRoleCommand,
  nodeCommandReplySchema,
} from '@dln/contracts';
import { NATS_CONNECTION, SUBJECTS } from '@dln/platform';
import { NatsConnection, requestJson } from '@dln/messaging';
import type { Subjects } from '@dln/contracts';
import { Inject, Injectable } from '@nestjs/common';
import { NodeRegistryService } from './node-registry.service';

const COMMAND_TIMEOUT_MS = 10_000;

/**
 * Sends role commands to nodes on their command subject. Assigning reserves the slot first and
 * gives it back when the node refuses or does not answer.
 */
@Injectable()
export class NodeCommander {
  constructor(
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
    private readonly registry: NodeRegistryService,
  ) {}

  async assign(
    nodeId: string,
    command: Omit<AssignRoleCommand, 'type'>,
  ): Promise<NodeCommandReply> {
    if (!this.registry.nodes.reserve(nodeId, command.token)) {
      throw new ConflictError(`node "${nodeId}" is unknown or has no free slot`);
    }
    try {
      return await this.send(nodeId, { type: 'assign', ...command });
    } catch (error) {
      this.registry.nodes.release(nodeId, command.token);
      throw error;
    }
  }

  async stop(nodeId: string, command: Omit<StopRoleCommand, 'type'>): Promise<NodeCommandReply> {
    const timeoutMs = COMMAND_TIMEOUT_MS + (command.graceMs ?? 10_000);
    const reply = await this.send(nodeId, { type: 'stop', ...command }, timeoutMs);
    this.registry.nodes.release(nodeId, command.token);
    return reply;
  }

  private send(
    nodeId: string,
    command: AssignRoleCommand | StopRoleCommand,
    timeoutMs = COMMAND_TIMEOUT_MS,
  ): Promise<NodeCommandReply> {
    return requestJson(this.nats, this.subjects.nodeCommands(nodeId), command, {
      reply: nodeCommandReplySchema,
      what: `${command.type} command to node ${nodeId}`,
      timeoutMs,
    });
  }
}
