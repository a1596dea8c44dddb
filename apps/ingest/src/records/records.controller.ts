import {
  DlnError,
  ErrorCode,
  ingestOptionsSchema,
  IngestResult,
  parseInput,
  resourceName,
} from '@dln/contracts';
import { bodyFormatOf, itemsFromJsonValue, parseBody } from '@dln/records';
import { Controller, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { IngestService } from './ingest.service';

interface IngestRequest {
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

interface Reply {
  status(code: number): Reply;
}

/**
 * `POST /v1/sources/{name}/records`: a JSON array (application/json), NDJSON
 * (application/x-ndjson) or CSV (text/csv) body. 200 when at least one record was taken, 422 when
 * none was (or, with `atomic=true`, when any record is invalid; then nothing is stored).
 */
@Controller('v1/sources')
export class RecordsController {
  constructor(private readonly ingest: IngestService) {}

  @Post(':name/records')
  @HttpCode(200)
  async records(
    @Param('name') name: string,
    @Query() query: Record<string, unknown>,
    @Req() request: IngestRequest,
    @Res({ passthrough: true }) reply: Reply,
  ): Promise<IngestResult | (IngestResult & ReturnType<DlnError['toBody']>)> {
    parseInput(resourceName, name, 'source name');
    const contentType = request.headers['content-type'];
    const format = bodyFormatOf(typeof contentType === 'string' ? contentType : undefined);
    if (!format) {
      throw new DlnError(
        ErrorCode.UnsupportedMediaType,
        `content type "${String(contentType ?? '')}" is not accepted: use application/json, application/x-ndjson or text/csv`,
      );
    }
    const options = parseInput(ingestOptionsSchema, query, 'ingest options');
    const body = request.body;
    // Fastify has parsed JSON already (once); NDJSON and CSV arrive as text.
    const items =
      format === 'json'
        ? itemsFromJsonValue(body)
        : parseBody(typeof body === 'string' ? body : '', format);
    const { result } = await this.ingest.ingest(name, items, options, 'rest');
    if (result.accepted > 0) return result;
    reply.status(422);
    const reason =
      options.atomic && result.rejectedCount > 0
        ? 'atomic request has invalid records; nothing was stored'
        : 'no record was valid; nothing was stored';
    return { ...result, ...new DlnError(ErrorCode.AllRecordsRejected, reason).toBody() };
  }
}
