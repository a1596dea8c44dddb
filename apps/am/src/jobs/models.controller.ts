import { ModelVersion, parseInput, resourceName } from '@dln/contracts';
import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { z } from 'zod';
import { ModelRegistryService, ModelSummary } from './model-registry.service';

const versionParam = z.coerce
  .number()
  .int()
  .positive()
  .max(2 ** 31 - 1);

/** REST: the model catalogue, promotion and pinning by hand. */
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly models: ModelRegistryService) {}

  @Get()
  async list(): Promise<{ models: ModelSummary[] }> {
    return { models: await this.models.list() };
  }

  @Get(':name/versions')
  async versions(@Param('name') name: string): Promise<{ versions: ModelVersion[] }> {
    return { versions: await this.models.versions(parseInput(resourceName, name, 'model name')) };
  }

  @Post(':name/versions/:version/promote')
  @HttpCode(200)
  promote(@Param('name') name: string, @Param('version') version: string): Promise<ModelVersion> {
    return this.models.promote(
      parseInput(resourceName, name, 'model name'),
      parseInput(versionParam, version, 'version'),
    );
  }

  @Post(':name/versions/:version/pin')
  @HttpCode(200)
  pin(@Param('name') name: string, @Param('version') version: string): Promise<ModelVersion> {
    return this.models.pin(
      parseInput(resourceName, name, 'model name'),
      parseInput(versionParam, version, 'version'),
    );
  }

  @Post(':name/unpin')
  @HttpCode(200)
  unpin(@Param('name') name: string): Promise<ModelVersion> {
    return this.models.unpin(parseInput(resourceName, name, 'model name'));
  }
}
