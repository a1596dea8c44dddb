import {
  DlnError,
  ErrorCode,
  NAME_PATTERN,
  NAME_RULE,
  ScorerSpec,
  ScorerStatus,
  ValidationError,
} from '@dln/contracts';
import { ErrorFilter } from '@dln/platform';
import { parseJsonBody } from '@dln/serving';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Res,
  UseFilters,
} from '@nestjs/common';
import { ScorersService } from './scorers.service';

/** A scorer spec is small; anything larger is refused before parsing. */
const MAX_SPEC_BYTES = 64 * 1024;

function scorerName(name: string): string {
  if (!NAME_PATTERN.test(name))
    throw new ValidationError(`scorer name "${name}" is invalid: ${NAME_RULE}`, [
      { path: 'name', message: NAME_RULE },
    ]);
  return name;
}

/**
 * Prediction topics over REST (not TensorFlow Serving's API, so errors use our ErrorBody):
 * declare, list, show and remove scorers. The app hands bodies over as raw bytes.
 */
@Controller('v1/scorers')
@UseFilters(ErrorFilter)
export class ScorersController {
  constructor(private readonly scorers: ScorersService) {}

  /** 201 with the stored spec; 200 when the same spec was already declared; 409 for another one. */
  @Post()
  async declare(
    @Body() body: unknown,
    @Res({ passthrough: true }) reply: { status(code: number): unknown },
  ): Promise<{ scorer: ScorerSpec }> {
    if (!(body instanceof Uint8Array))
      throw new ValidationError('send a JSON body with Content-Type: application/json');
    if (body.byteLength > MAX_SPEC_BYTES)
      throw new DlnError(
        ErrorCode.PayloadTooLarge,
        `a scorer spec is at most ${MAX_SPEC_BYTES} bytes`,
      );
    const { created, scorer } = await this.scorers.declare(parseJsonBody(body));
    reply.status(created ? 201 : 200);
    return { scorer };
  }

  /** The scorers this instance runs, with its own counters (scored, lag, version). */
  @Get()
  list(): { scorers: ScorerStatus[] } {
    return { scorers: this.scorers.list() };
  }

  @Get(':name')
  show(@Param('name') name: string): ScorerStatus {
    return this.scorers.get(scorerName(name));
  }

  /** Stops the scorer on every instance and deletes its consumers. */
  @Delete(':name')
  @HttpCode(204)
  async remove(@Param('name') name: string): Promise<void> {
    await this.scorers.remove(scorerName(name));
  }
}
