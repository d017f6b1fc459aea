import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

import { isGeartideError, type ErrorCategory } from '../core/errors.ts';

/** Category → HTTP status, in one place (style.md, rule 5). */
const STATUS: Record<ErrorCategory, number> = {
  input: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  exhausted: 409,
  transient: 503,
  internal: 500,
};

interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * Turns any thrown error into `{error:{code,message,field}}`. Validation failures name the
 * offending field (`scale.min`, `name`); fastify's own 4xx errors (bad JSON, body too large,
 * wrong content type) keep their status; anything else is a 500 whose details go to the log
 * only — never to the client, where they could carry secrets.
 */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply, log: Logger): FastifyReply {
  const { status, body } = describeError(error);
  if (status >= 500) log.error({ err: error, method: request.method, url: request.routeOptions.url ?? 'unknown' }, 'request failed');
  return reply.status(status).type('application/json').send(body);
}

function describeError(error: unknown): { status: number; body: ErrorBody } {
  if (isGeartideError(error)) {
    const body: ErrorBody = { error: { code: error.code, message: error.message } };
    if (error.field !== undefined) body.error.field = error.field;
    const status = error.code === 'body_too_large' ? 413 : STATUS[error.category];
    return { status, body };
  }
  const fastifyError = error as Partial<FastifyError> & { validation?: AjvIssue[]; validationContext?: string };
  if (Array.isArray(fastifyError.validation) && fastifyError.validation.length > 0) {
    return { status: 400, body: { error: validationError(fastifyError.validation[0]!, fastifyError.validationContext ?? 'body') } };
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = FASTIFY_CODES[fastifyError.code ?? ''] ?? 'bad_request';
    return { status, body: { error: { code, message: fastifyError.message ?? 'bad request', field: FASTIFY_FIELDS[code] } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error; the broker log has the details' } } };
}

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_content_length',
};

/** The part of the request each of fastify's own errors is about, so every 4xx names one. */
const FASTIFY_FIELDS: Record<string, string> = {
  body_too_large: 'body',
  invalid_json: 'body',
  unsupported_media_type: 'Content-Type',
  invalid_content_length: 'Content-Length',
};

function validationError(issue: AjvIssue, context: string): ErrorBody['error'] {
  const path = (issue.instancePath ?? '')
    .split('/')
    .filter((part) => part !== '')
    .join('.');
  const join = (child: unknown) => [path, String(child)].filter((part) => part !== '').join('.');
  let field = path;
  let message: string;
  switch (issue.keyword) {
    case 'required':
      field = join(issue.params?.missingProperty);
      message = `${field} is required`;
      return { code: 'missing_field', message: where(message, context), field };
    case 'additionalProperties':
      field = join(issue.params?.additionalProperty);
      message = `${field} is not a known field`;
      return { code: 'unknown_field', message: where(message, context), field };
    case 'type':
      message = `${field || context} must be ${String(issue.params?.type)}`;
      break;
    case 'pattern':
      message = `${field} has an invalid format (${patternHint(field)})`;
      break;
    default:
      message = `${field || context} ${issue.message ?? 'is invalid'}`;
  }
  return { code: 'invalid_field', message: where(message, context), field: field || context };
}

function where(message: string, context: string): string {
  return context === 'body' ? message : `${message} (in ${context})`;
}

function patternHint(field: string): string {
  const last = field.split('.').pop() ?? field;
  if (['name', 'domain', 'app', 'district'].includes(last)) return 'lower-case letters and digits only, 1 to 32 characters';
  if (last === 'login') return 'lower-case letters, digits and . _ @ -, at most 64 characters';
  return 'see the OpenAPI document at /api/v1/openapi.json';
}
