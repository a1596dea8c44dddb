import { toHttpError } from '@dln/platform';
import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import { Observable, throwError } from 'rxjs';

/** TensorFlow Serving's error body: `{"error": "message"}` with the status of our error code. */
export function tfServingError(
  exception: unknown,
  logger: Logger,
): { status: number; body: { error: string } } {
  const { status, body } = toHttpError(exception, logger);
  return { status, body: { error: body.error.message } };
}

/**
 * The prediction service answers every HTTP error the way TensorFlow Serving does (also those
 * raised before a handler: body too large, unknown route); other services keep the platform's.
 */
@Catch()
export class TfServingErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(TfServingErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): Observable<never> | void {
    if (host.getType() === 'rpc') return throwError(() => toHttpError(exception, this.logger).body);
    const { status, body } = tfServingError(exception, this.logger);
    host
      .switchToHttp()
      .getResponse<{ status(code: number): { send(body: unknown): void } }>()
      .status(status)
      .send(body);
  }
}
