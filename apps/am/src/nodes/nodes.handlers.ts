import {
  ControlPattern,
  NodeHeartbeatReply,
  NodeRegistrationAck,
  RoleExitAck,
  nodeHeartbeatSchema,
  nodeRegistrationSchema,
  parseInput,
  roleExitReportSchema,
} from '@dln/contracts';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { NodeRegistryService } from './node-registry.service';

/** NATS side of the node registry: registrations, heartbeats and role exits from the nodes. */
@Controller()
export class NodesHandlers {
  constructor(private readonly registry: NodeRegistryService) {}

  @MessagePattern(ControlPattern.nodeRegister)
  async register(@Payload() payload: unknown): Promise<NodeRegistrationAck> {
    return this.registry.register(parseInput(nodeRegistrationSchema, payload, 'node registration'));
  }

  @MessagePattern(ControlPattern.nodeHeartbeat)
  async heartbeat(@Payload() payload: unknown): Promise<NodeHeartbeatReply> {
    return this.registry.heartbeat(parseInput(nodeHeartbeatSchema, payload, 'node heartbeat'));
  }

  @MessagePattern(ControlPattern.roleExit)
  async roleExit(@Payload() payload: unknown): Promise<RoleExitAck> {
    await this.registry.roleExited(parseInput(roleExitReportSchema, payload, 'role exit report'));
    return { recorded: true };
  }
}
