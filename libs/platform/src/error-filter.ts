import { DlnError, ErrorBody, ErrorCode } from '@dln/contracts';
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { Observable, throwError } from 'rxjs';

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCode.PayloadTooLarge,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ErrorCode.UnsupportedMediaType,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ErrorCode.InvalidRequest,
  FST_ERR_CTP_EMPTY_JSON_BODY: ErrorCode.InvalidRequest,
  FST_ERR_CTP_INVALID_JSON_BODY: ErrorCode.InvalidRequest,
};

const HTTP_CODES: Record<number, ErrorCode> = {
  400: ErrorCode.InvalidRequest,
  401: ErrorCode.InvalidRequest,
  404: ErrorCode.NotFound,
  409: ErrorCode.Conflict,
  413: ErrorCode.PayloadTooLarge,
  415: ErrorCode.UnsupportedMediaType,
  503: ErrorCode.Unavailable,
};

/** Maps any error to our status code and ErrorBody; unknown errors are logged, never leaked. */
export function toHttpError(
  exception: unknown,
  logger: Logger,
): { status: number; body: ErrorBody } {
  if (exception instanceof DlnError)
    return { status: exception.httpStatus, body: exception.toBody() };
  const fastifyError = exception as FastifyLikeError;
  const fastifyCode = fastifyError?.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (fastifyCode) {
    const error = new DlnError(fastifyCode, fastifyError.message ?? fastifyCode);
    return { status: fastifyError.statusCode ?? error.httpStatus, body: error.toBody() };
  }
  if (exception instanceof SyntaxError) {
    const error = new DlnError(ErrorCode.InvalidRequest, `malformed JSON: ${exception.message}`);
    return { status: 400, body: error.toBody() };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const code =
      HTTP_CODES[status] ?? (status >= 500 ? ErrorCode.Internal : ErrorCode.InvalidRequest);
    return { status, body: new DlnError(code, exception.message).toBody() };
  }
  logger.error(exception instanceof Error ? exception : String(exception));
  return { status: 500, body: new DlnError(ErrorCode.Internal, 'internal error').toBody() };
}

/** One filter for REST and NATS handlers: both answer with the same ErrorBody. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(ErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): Observable<never> | void {
    const { status, body } = toHttpError(exception, this.logger);
    if (host.getType() === 'rpc') return throwError(() => body);
    const reply = host
      .switchToHttp()
      .getResponse<{ status(code: number): { send(body: unknown): void } }>();
    reply.status(status).send(body);
  }
}
