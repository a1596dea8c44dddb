import {
  parseInput,
  resourceName,
  StreamAggregatesReply,
  StreamPipelineView,
  StreamSnapshot,
} from '@dln/contracts';
import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { z } from 'zod';
import { StreamsService } from './streams.service';

const versionParam = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

function pipelineName(name: string): string {
  return parseInput(resourceName, name, 'pipeline name');
}

/**
 * Stream pipelines (declared with `POST /v1/pipelines`, `mode: 'stream'`): start and stop on every
 * instance, status per partition group, snapshot versions, and per-key aggregates for serving.
 */
@Controller('v1/pipelines/:name/stream')
export class StreamsController {
  constructor(private readonly streams: StreamsService) {}

  @Get()
  async view(@Param('name') name: string): Promise<StreamPipelineView> {
    return this.streams.view(pipelineName(name));
  }

  @Post('start')
  @HttpCode(200)
  async start(@Param('name') name: string): Promise<StreamPipelineView> {
    return this.streams.start(pipelineName(name));
  }

  @Post('stop')
  @HttpCode(200)
  async stop(@Param('name') name: string): Promise<StreamPipelineView> {
    return this.streams.stop(pipelineName(name));
  }

  @Get('snapshots/latest')
  async latest(@Param('name') name: string): Promise<StreamSnapshot> {
    return this.streams.snapshot({ pipeline: pipelineName(name) });
  }

  @Get('snapshots/:version')
  async snapshot(
    @Param('name') name: string,
    @Param('version') version: string,
  ): Promise<StreamSnapshot> {
    const v = parseInput(versionParam, version, 'snapshot version');
    return this.streams.snapshot({ pipeline: pipelineName(name), version: v });
  }

  /** Body `{at, record}`: the aggregates of that record at that time (the serving read). */
  @Post('aggregates')
  @HttpCode(200)
  async aggregates(
    @Param('name') name: string,
    @Body() body: unknown,
  ): Promise<StreamAggregatesReply> {
    const fields = typeof body === 'object' && body !== null ? body : {};
    return this.streams.aggregates({ ...fields, pipeline: pipelineName(name) });
  }
}
