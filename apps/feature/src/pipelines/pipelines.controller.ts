import {
  parseInput,
  PipelineVersion,
  PipelineView,
  resourceName,
  StreamPipelineView,
} from '@dln/contracts';
import { Body, Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import { z } from 'zod';
import { StreamsService } from '../streams/streams.service';
import { PipelinesService } from './pipelines.service';

interface Reply {
  status(code: number): Reply;
}

const versionParam = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

function names(name: string): string {
  return parseInput(resourceName, name, 'pipeline name');
}

function version(value: string): number {
  return parseInput(versionParam, value, 'pipeline version');
}

/**
 * Feature pipelines: declare (201 created, 200 updated), describe, fit a new version, describe a
 * version, materialize a version's examples. Fit and materialize answer when done; their
 * progress shows meanwhile in the GETs.
 */
@Controller('v1/pipelines')
export class PipelinesController {
  constructor(
    private readonly pipelines: PipelinesService,
    private readonly streams: StreamsService,
  ) {}

  /** A batch pipeline, or with `mode: 'stream'` a stream pipeline (StreamPipelineView). */
  @Post()
  async declare(
    @Body() body: unknown,
    @Res({ passthrough: true }) reply: Reply,
  ): Promise<PipelineView | StreamPipelineView> {
    const isStream =
      typeof body === 'object' && body !== null && (body as { mode?: unknown }).mode === 'stream';
    const { created, view } = isStream
      ? await this.streams.declare(body)
      : await this.pipelines.declare(body);
    reply.status(created ? 201 : 200);
    return view;
  }

  @Get()
  async list(): Promise<{ pipelines: PipelineView[] }> {
    return { pipelines: await this.pipelines.list() };
  }

  @Get(':name')
  async describe(@Param('name') name: string): Promise<PipelineView> {
    return this.pipelines.describe(names(name));
  }

  @Post(':name/fit')
  @HttpCode(201)
  async fit(@Param('name') name: string): Promise<PipelineVersion> {
    return this.pipelines.fit(names(name));
  }

  @Get(':name/versions/:version')
  async version(
    @Param('name') name: string,
    @Param('version') v: string,
  ): Promise<PipelineVersion> {
    return this.pipelines.version(names(name), version(v));
  }

  @Post(':name/versions/:version/materialize')
  @HttpCode(200)
  async materialize(
    @Param('name') name: string,
    @Param('version') v: string,
  ): Promise<PipelineVersion> {
    return this.pipelines.materialize(names(name), version(v));
  }
}
