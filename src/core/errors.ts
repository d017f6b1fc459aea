/**
 * One error hierarchy for all of geartide. Every error has a stable `code` (what a script matches
 * on), a `category` (what the REST edge maps to an HTTP status, once, in one place) and typed
 * context fields. `field` names the input that was wrong, where one was.
 */
export type ErrorCategory =
  | 'input' // the caller sent something invalid: 400/413/422
  | 'unauthenticated' // no or unknown credential: 401
  | 'forbidden' // credential known, action not allowed: 403
  | 'not-found' // 404
  | 'conflict' // the request clashes with current state (duplicate name, node not empty): 409
  | 'exhausted' // no capacity left: placement, UIDs, cloud quota: 409/503 with a reason
  | 'transient' // retry later: 503
  | 'internal'; // a bug: 500

export interface ErrorContext {
  /** The request field, parameter or config key that was wrong. */
  field?: string;
  [key: string]: unknown;
}

export class GeartideError extends Error {
  readonly code: string;
  readonly category: ErrorCategory;
  readonly context: ErrorContext;

  constructor(code: string, category: ErrorCategory, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GeartideError';
    this.code = code;
    this.category = category;
    this.context = context;
  }

  get field(): string | undefined {
    return this.context.field;
  }
}

export class InputError extends GeartideError {
  constructor(message: string, field?: string, code = 'invalid_input', context: ErrorContext = {}) {
    super(code, 'input', message, { ...context, ...(field === undefined ? {} : { field }) });
    this.name = 'InputError';
  }
}

export class NotFoundError extends GeartideError {
  constructor(readonly kind: string, readonly id: string, field?: string) {
    super(`${kind}_not_found`, 'not-found', `${kind} '${id}' not found`, { kind, id, ...(field === undefined ? {} : { field }) });
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends GeartideError {
  constructor(code: string, message: string, context: ErrorContext = {}) {
    super(code, 'conflict', message, context);
    this.name = 'ConflictError';
  }
}

export class AuthError extends GeartideError {
  constructor(message = 'a valid bearer token is required') {
    super('unauthenticated', 'unauthenticated', message);
    this.name = 'AuthError';
  }
}

export class ForbiddenError extends GeartideError {
  constructor(message: string) {
    super('forbidden', 'forbidden', message);
    this.name = 'ForbiddenError';
  }
}

/**
 * No room: placement found no node, a district has no UIDs left, or (later) the cloud is out of
 * quota. `profile` and `district` say what is full so the autoscaler can act on it.
 */
export class ExhaustedError extends GeartideError {
  constructor(code: string, message: string, context: ErrorContext & { profile?: string; district?: string } = {}) {
    super(code, 'exhausted', message, context);
    this.name = 'ExhaustedError';
  }
}

export class ConfigError extends GeartideError {
  constructor(message: string, key: string) {
    super('invalid_config', 'input', message, { field: key });
    this.name = 'ConfigError';
  }
}

export function isGeartideError(error: unknown): error is GeartideError {
  return error instanceof GeartideError;
}
