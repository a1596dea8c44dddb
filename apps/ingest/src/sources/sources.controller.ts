import { SourceDescription, SourceList } from '@dln/contracts';
import { Body, Controller, Get, Param, Post, Res } from '@nestjs/common';
import { SourcesService } from './sources.service';

interface Reply {
  status(code: number): Reply;
}

/** Source declarations: `POST /v1/sources` (201 created, 200 updated), `GET /v1/sources[/{name}]`. */
@Controller('v1/sources')
export class SourcesController {
  constructor(private readonly sources: SourcesService) {}

  @Post()
  async declare(
    @Body() body: unknown,
    @Res({ passthrough: true }) reply: Reply,
  ): Promise<SourceDescription> {
    const { created, description } = await this.sources.declare(body);
    reply.status(created ? 201 : 200);
    return description;
  }

  @Get()
  async list(): Promise<SourceList> {
    return { sources: await this.sources.list() };
  }

  @Get(':name')
  async describe(@Param('name') name: string): Promise<SourceDescription> {
    return this.sources.describe(name);
  }
}
