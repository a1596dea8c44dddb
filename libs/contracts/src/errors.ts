/** Stable error codes shared by REST answers and NATS replies. */
export const ErrorCode = {
  InvalidRequest: 'INVALID_REQUEST',
  InvalidName: 'INVALID_NAME',
  Unauthorized: 'UNAUTHORIZED',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  NotFound: 'NOT_FOUND',
  Conflict: 'CONFLICT',
  AllRecordsRejected: 'ALL_RECORDS_REJECTED',
  Unavailable: 'UNAVAILABLE',
  Timeout: 'TIMEOUT',
  Fenced: 'FENCED',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_REQUEST: 400,
  INVALID_NAME: 400,
  UNAUTHORIZED: 401,
  UNSUPPORTED_MEDIA_TYPE: 415,
  PAYLOAD_TOO_LARGE: 413,
  NOT_FOUND: 404,
  CONFLICT: 409,
  ALL_RECORDS_REJECTED: 422,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
  FENCED: 409,
  INTERNAL: 500,
};

/** One problem with one field of an input; `path` is dotted (`records.3.distance`). */
export interface FieldIssue {
  path: string;
  message: string;
}

/** The JSON body of every error answer, over HTTP and over NATS. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; retryable: boolean; issues?: FieldIssue[] };
}

/** Base of every error the services raise on purpose: a stable code, the cause kept. */
export class DlnError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: { retryable?: boolean; issues?: FieldIssue[]; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
  }

  get retryable(): boolean {
    return this.options.retryable ?? false;
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }

  toBody(): ErrorBody {
    const issues = this.options.issues;
    return {
      error: {
        code: this.code,
        message: this.message,
        retryable: this.retryable,
        ...(issues && issues.length > 0 ? { issues } : {}),
      },
    };
  }
}

export class ValidationError extends DlnError {
  constructor(message: string, issues: FieldIssue[] = []) {
    super(ErrorCode.InvalidRequest, message, { issues });
  }
}

export class NotFoundError extends DlnError {
  constructor(what: string, name: string) {
    super(ErrorCode.NotFound, `${what} "${name}" not found`);
  }
}

export class ConflictError extends DlnError {
  constructor(message: string) {
    super(ErrorCode.Conflict, message);
  }
}

export class UnavailableError extends DlnError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.Unavailable, message, { retryable: true, cause });
  }
}

/** Rebuilds a DlnError from an ErrorBody received over NATS. */
export function errorFromBody(body: ErrorBody): DlnError {
  return new DlnError(body.error.code, body.error.message, {
    retryable: body.error.retryable,
    ...(body.error.issues ? { issues: body.error.issues } : {}),
  });
}

export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false;
  const error = (value as { error: unknown }).error;
  return typeof error === 'object' && error !== null && 'code' in error && 'message' in error;
}
