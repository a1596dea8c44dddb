import { NAME_PATTERN, NAME_RULE, ValidationError } from '@dln/contracts';
import {
  modelMetadataView,
  modelStatusView,
  parseVersion,
  PredictAnswer,
  Predictor,
  RequestBody,
  Verb,
} from '@dln/serving';
import type { ModelStatusView } from '@dln/serving';
import { Body, Controller, Get, HttpCode, Param, Post, UseFilters } from '@nestjs/common';
import { ModelCatalogueService } from './model-catalogue.service';
import { TfServingErrorFilter } from './tf-serving-error.filter';

function modelName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new ValidationError(`model name "${name}" is invalid: ${NAME_RULE}`, [
      { path: 'name', message: NAME_RULE },
    ]);
  }
  return name;
}

function requestBody(body: unknown): RequestBody {
  if (body instanceof Uint8Array) return body;
  throw new ValidationError('send a JSON body with Content-Type: application/json');
}

/**
 * TensorFlow Serving's REST API. Fastify's router takes a literal colon as `::`, and a parameter
 * runs up to `-`, `.` or `/` only, so each name parameter carries a pattern that stops at ':'.
 */
@Controller('v1/models')
@UseFilters(TfServingErrorFilter)
export class PredictionController {
  constructor(
    private readonly predictor: Predictor,
    private readonly catalogue: ModelCatalogueService,
  ) {}

  /** Not in TensorFlow Serving: whether the AM's catalogue was read, and each model's served default. */
  @Get()
  list(): ReturnType<ModelCatalogueService['summary']> {
    return this.catalogue.summary();
  }

  private score(
    name: string,
    version: string | undefined,
    body: unknown,
    verb: Verb,
  ): Promise<PredictAnswer> {
    const v = version === undefined ? undefined : parseVersion(version);
    return this.predictor.answer(modelName(name), v, requestBody(body), verb);
  }

  @Post(':name([^/:]+)::predict')
  @HttpCode(200)
  predict(@Param('name') name: string, @Body() body: unknown): Promise<PredictAnswer> {
    return this.score(name, undefined, body, 'predict');
  }

  @Post(':name([^/:]+)::classify')
  @HttpCode(200)
  classify(@Param('name') name: string, @Body() body: unknown): Promise<PredictAnswer> {
    return this.score(name, undefined, body, 'classify');
  }

  @Post(':name/versions/:version([^/:]+)::predict')
  @HttpCode(200)
  predictVersion(
    @Param('name') name: string,
    @Param('version') version: string,
    @Body() body: unknown,
  ): Promise<PredictAnswer> {
    return this.score(name, version, body, 'predict');
  }

  @Post(':name/versions/:version([^/:]+)::classify')
  @HttpCode(200)
  classifyVersion(
    @Param('name') name: string,
    @Param('version') version: string,
    @Body() body: unknown,
  ): Promise<PredictAnswer> {
    return this.score(name, version, body, 'classify');
  }

  @Get(':name')
  status(@Param('name') name: string): ModelStatusView {
    return modelStatusView(this.predictor.registry.status(modelName(name)));
  }

  @Get(':name/versions/:version')
  versionStatus(@Param('name') name: string, @Param('version') version: string): ModelStatusView {
    const v = parseVersion(version);
    const statuses = this.predictor.registry.status(modelName(name)).filter((s) => s.version === v);
    if (statuses.length === 0) this.predictor.registry.resolve(name, v);
    return modelStatusView(statuses);
  }

  @Get(':name/metadata')
  metadata(@Param('name') name: string): Record<string, unknown> {
    return modelMetadataView(this.predictor.registry.resolve(modelName(name)).model);
  }

  @Get(':name/versions/:version/metadata')
  versionMetadata(
    @Param('name') name: string,
    @Param('version') version: string,
  ): Record<string, unknown> {
    return modelMetadataView(
      this.predictor.registry.resolve(modelName(name), parseVersion(version)).model,
    );
  }
}
