import {
  ControlPattern,
  parseInput,
  pipelineDescribeRequestSchema,
  PipelinePrepareReply,
  PipelineVersion,
} from '@dln/contracts';
import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { PipelinesService } from './pipelines.service';

/** NATS requests: describe a fitted version (AM, prediction), prepare examples (AM). */
@Controller()
export class PipelinesHandlers {
  constructor(private readonly pipelines: PipelinesService) {}

  @MessagePattern(ControlPattern.pipelineDescribe)
  async describe(@Payload() payload: unknown): Promise<PipelineVersion> {
    const request = parseInput(pipelineDescribeRequestSchema, payload, 'pipeline describe request');
    return this.pipelines.version(request.pipeline, request.version);
  }

  /** Fitting and materializing can take minutes: callers use a long request timeout. */
  @MessagePattern(ControlPattern.pipelinePrepare)
  async prepare(@Payload() payload: unknown): Promise<PipelinePrepareReply> {
    return this.pipelines.prepare(payload);
  }
}
