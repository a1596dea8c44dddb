import {
  ControlPattern,
  StreamAggregatesBatchReply,
  StreamAggregatesReply,
  StreamSnapshot,
} from '@dln/contracts';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { StreamsService } from './streams.service';

/** NATS requests of stream pipelines: a snapshot version (AM, prediction), per-key aggregates (prediction). */
@Controller()
export class StreamsHandlers {
  constructor(private readonly streams: StreamsService) {}

  @MessagePattern(ControlPattern.streamSnapshot)
  async snapshot(@Payload() payload: unknown): Promise<StreamSnapshot> {
    return this.streams.snapshot(payload);
  }

  @MessagePattern(ControlPattern.streamAggregates)
  async aggregates(@Payload() payload: unknown): Promise<StreamAggregatesReply> {
    return this.streams.aggregates(payload);
  }

  @MessagePattern(ControlPattern.streamAggregatesBatch)
  async aggregatesBatch(@Payload() payload: unknown): Promise<StreamAggregatesBatchReply> {
    return this.streams.aggregatesBatch(payload);
  }
}
