/**
 * Errors are values with an HTTP status, a type, a code and the offending parameter.
 * Each dialect renders them in its own envelope; nothing else decides status codes.
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'rate_limit_error'
  | 'insufficient_quota'
  | 'server_error'
  | 'upstream_error';

export interface ApiErrorInit {
  status: number;
  type: ErrorType;
  message: string;
  code?: string | null;
  param?: string | null;
  /** Extra response headers (Retry-After, x-should-retry, …). */
  headers?: Record<string, string>;
}

export class ApiError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.name = 'ApiError';
    this.status = init.status;
    this.type = init.type;
    this.code = init.code ?? null;
    this.param = init.param ?? null;
    this.headers = init.headers ?? {};
  }
}

export const invalid = (param: string | null, message: string, code = 'invalid_value'): ApiError =>
  new ApiError({ status: 400, type: 'invalid_request_error', param, message, code });

export const notFound = (message: string, param: string | null = null): ApiError =>
  new ApiError({ status: 404, type: 'invalid_request_error', message, param, code: 'not_found' });

export const unauthorized = (message: string): ApiError =>
  new ApiError({ status: 401, type: 'authentication_error', message, code: 'invalid_api_key' });

export const conflict = (message: string, code: string, param: string | null = null): ApiError =>
  // The openai SDK retries 409 by default; these conflicts do not go away on retry.
  new ApiError({ status: 409, type: 'invalid_request_error', message, code, param, headers: { 'x-should-retry': 'false' } });

/** A failure inside a task (not an HTTP error): stable code plus a human reason. */
export interface TaskFailure {
  code: string;
  message: string;
}
