import { readFileSync } from 'node:fs';

import type { Logger } from 'pino';
import { Agent, request, type Dispatcher } from 'undici';

import { GeartideError, type ErrorCategory } from '../../core/errors.ts';
import type { CloudConfig } from './cloud-config.ts';

/** The OpenStack services geartide talks to, by catalog type. */
export type ServiceType = 'identity' | 'compute' | 'orchestration' | 'image' | 'network';

/** Nova microversion we speak: 2.52 (tags at create), 2.37 (`networks: none`), 2.79 is Train. */
export const NOVA_MICROVERSION = '2.79';

export interface OpenStackClientOptions {
  /** Per request: until the answer's headers, and between body chunks. Default 30 s. */
  readonly timeoutMs?: number;
  /** Attempts for a request that fails transiently (network, timeout, 502/503/504). Default 4. */
  readonly attempts?: number;
  /** First retry delay; doubles each time, full jitter, capped at 8 s. Default 500 ms. */
  readonly retryBaseMs?: number;
  /** Refresh the token this long before it expires. Default 5 minutes. */
  readonly refreshBeforeMs?: number;
  readonly log?: Logger;
  readonly userAgent?: string;
  /** Tests: the clock tokens' expiry is compared with. */
  readonly now?: () => number;
}

export interface RequestOptions {
  readonly body?: unknown;
  readonly query?: Record<string, string | number | boolean | undefined>;
  readonly headers?: Record<string, string>;
  /** The statuses that are success; others throw OpenStackHttpError. Default: any 2xx. */
  readonly expect?: readonly number[];
  /**
   * May the request be sent twice? GET, HEAD, PUT and DELETE are; a POST or PATCH is resent only
   * when the connection was refused (the cloud never saw it), never after a timeout or a 5xx.
   */
  readonly idempotent?: boolean;
  /** Set the Nova microversion headers (compute only). */
  readonly microversion?: string;
}

export interface Response<T> {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: T;
}

interface Token {
  readonly value: string;
  readonly expiresAt: number;
  readonly projectId: string | null;
  readonly userId: string | null;
  readonly catalog: CatalogEntry[];
}

interface CatalogEntry {
  readonly type: string;
  readonly name?: string;
  readonly endpoints: { readonly interface: string; readonly region?: string; readonly region_id?: string; readonly url: string }[];
}

/**
 * An error the cloud answered, or failed to answer, a request with. `status` is the HTTP status
 * (0: no answer: refused, reset, timed out); `cloudMessage` is the cloud's own sentence (from
 * Nova's `{"forbidden": {"message"}}`, Keystone's `{"error": {"message"}}`, Heat's
 * `{"error": {"message"}, "explanation"}`), never the request's body.
 */
export class OpenStackHttpError extends GeartideError {
  constructor(
    readonly status: number,
    readonly service: string,
    readonly method: string,
    readonly path: string,
    readonly cloudMessage: string,
    options?: { cause?: unknown },
  ) {
    super(
      status === 0 ? 'cloud_unreachable' : `cloud_http_${status}`,
      categoryOf(status),
      `${service} ${method} ${path}: ${status === 0 ? 'no answer' : status} ${cloudMessage}`.trim(),
      { status, service },
      options,
    );
    this.name = 'OpenStackHttpError';
  }

  /** Worth retrying later: no answer, 5xx (the cloud's own trouble), 429. */
  get transient(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 429;
  }
}

function categoryOf(status: number): ErrorCategory {
  if (status === 0 || status >= 500 || status === 429) return 'transient';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  if (status >= 400) return 'input';
  return 'internal';
}

/**
 * A thin typed OpenStack client: Keystone v3 auth (password or application credential) with the
 * token cached and refreshed before it expires (and once more on a 401), endpoints from the
 * catalog by interface and region, an optional CA bundle, per-request timeouts, and retries
 * with jittered backoff for transient failures only. Passwords, secrets and tokens are never
 * logged and never part of an error.
 */
export class OpenStackClient {
  private token: Token | null = null;
  private pendingAuth: Promise<Token> | null = null;
  private closed = false;
  private readonly dispatcher: Dispatcher;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly retryBaseMs: number;
  private readonly refreshBeforeMs: number;
  private readonly now: () => number;

  constructor(
    readonly cloud: CloudConfig,
    private readonly options: OpenStackClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.attempts = Math.max(1, options.attempts ?? 4);
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.refreshBeforeMs = options.refreshBeforeMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
    const connect: Record<string, unknown> = {};
    if (cloud.caFile !== null) connect.ca = readFileSync(cloud.caFile);
    if (!cloud.verify) connect.rejectUnauthorized = false;
    this.dispatcher = new Agent({ connect, keepAliveTimeout: 10_000 });
  }

  /** The project the token is scoped to (Heat's URLs and Nova's quota calls need it). */
  async projectId(): Promise<string> {
    const token = await this.validToken();
    if (token.projectId === null) throw new OpenStackHttpError(400, 'identity', 'POST', '/v3/auth/tokens', 'the token is not scoped to a project; give a project in the cloud configuration');
    return token.projectId;
  }

  /** The catalog URL of `service` for the configured interface and region. */
  async endpoint(service: ServiceType): Promise<string> {
    if (service === 'identity') return `${this.cloud.authUrl}/v3`;
    const token = await this.validToken();
    return this.pickEndpoint(token, service);
  }

  async request<T = unknown>(service: ServiceType, method: string, path: string, options: RequestOptions = {}): Promise<Response<T>> {
    const idempotent = options.idempotent ?? ['GET', 'HEAD', 'PUT', 'DELETE'].includes(method);
    let reauthenticated = false;
    for (let attempt = 1; ; attempt++) {
      const token = await this.validToken();
      const base = service === 'identity' ? `${this.cloud.authUrl}/v3` : this.pickEndpoint(token, service);
      const headers: Record<string, string> = {
        accept: 'application/json',
        'user-agent': this.options.userAgent ?? 'geartide',
        'x-auth-token': token.value,
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(options.microversion ? { 'openstack-api-version': `compute ${options.microversion}`, 'x-openstack-nova-api-version': options.microversion } : {}),
        ...options.headers,
      };
      try {
        const response = await this.send<T>(service, method, base + path + queryString(options.query), path, headers, options.body);
        if (response.status === 401 && !reauthenticated) {
          // Revoked or expired early: authenticate again, once. Keystone's own API too: a 401
          // there means the same (authentication itself does not come through here).
          this.token = null;
          reauthenticated = true;
          attempt--;
          continue;
        }
        const ok = options.expect ? options.expect.includes(response.status) : response.status >= 200 && response.status < 300;
        if (ok) return response;
        throw new OpenStackHttpError(response.status, service, method, path, messageOf(response.body));
      } catch (error) {
        const retry = this.retryDelay(error, attempt, idempotent);
        if (retry === null) throw error;
        this.options.log?.warn({ service, method, path, attempt, err: describe(error), retryInMs: retry }, 'OpenStack request failed; retrying');
        await sleep(retry);
      }
    }
  }

  /** Closes the connections; a second call does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.dispatcher.close();
  }

  /** null: do not retry. Otherwise how long to wait before attempt + 1. */
  private retryDelay(error: unknown, attempt: number, idempotent: boolean): number | null {
    if (attempt >= this.attempts) return null;
    if (!(error instanceof OpenStackHttpError) || !error.transient) return null;
    const refused = error.status === 0 && (error.cause as { code?: string } | undefined)?.code === 'ECONNREFUSED';
    if (!idempotent && !refused) return null;
    const cap = Math.min(8_000, this.retryBaseMs * 2 ** (attempt - 1));
    return Math.round(cap / 2 + Math.random() * (cap / 2));
  }

  private async send<T>(service: string, method: string, url: string, path: string, headers: Record<string, string>, body: unknown): Promise<Response<T>> {
    const started = Date.now();
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method: method as Dispatcher.HttpMethod,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        dispatcher: this.dispatcher,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (error) {
      throw new OpenStackHttpError(0, service, method, path, `(${describe(error)})`, { cause: error });
    }
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw new OpenStackHttpError(0, service, method, path, `(the answer broke off: ${describe(error)})`, { cause: error });
    }
    this.options.log?.debug({ service, method, path, status: response.statusCode, ms: Date.now() - started }, 'OpenStack request');
    let parsed: unknown = text;
    if (text.length > 0 && String(response.headers['content-type'] ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: response.statusCode, headers: response.headers, body: parsed as T };
  }

  private async validToken(): Promise<Token> {
    if (this.token !== null && this.token.expiresAt - this.refreshBeforeMs > this.now()) return this.token;
    // One authentication at a time; concurrent requests share it.
    this.pendingAuth ??= this.authenticate().finally(() => {
      this.pendingAuth = null;
    });
    this.token = await this.pendingAuth;
    return this.token;
  }

  private async authenticate(): Promise<Token> {
    const body = { auth: authBody(this.cloud.auth) };
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.send<{ token?: KeystoneToken }>('identity', 'POST', `${this.cloud.authUrl}/v3/auth/tokens`, '/v3/auth/tokens', { 'content-type': 'application/json', accept: 'application/json', 'user-agent': this.options.userAgent ?? 'geartide' }, body);
        if (response.status !== 201 && response.status !== 200) {
          throw new OpenStackHttpError(response.status, 'identity', 'POST', '/v3/auth/tokens', `${messageOf(response.body)} (authenticating with ${this.cloud.source})`);
        }
        const value = response.headers['x-subject-token'];
        const token = response.body.token;
        if (typeof value !== 'string' || token === undefined) throw new OpenStackHttpError(response.status, 'identity', 'POST', '/v3/auth/tokens', 'Keystone answered without a token');
        return {
          value,
          expiresAt: Date.parse(token.expires_at),
          projectId: token.project?.id ?? null,
          userId: token.user?.id ?? null,
          catalog: token.catalog ?? [],
        };
      } catch (error) {
        // Authentication is safe to repeat (it creates nothing lasting).
        const retry = this.retryDelay(error, attempt, true);
        if (retry === null) throw error;
        this.options.log?.warn({ service: 'identity', attempt, err: describe(error), retryInMs: retry }, 'Keystone authentication failed; retrying');
        await sleep(retry);
      }
    }
  }

  private pickEndpoint(token: Token, service: ServiceType): string {
    const override = this.cloud.endpointOverrides[service];
    if (override !== undefined) return override.replace(/[%$]\(project_id\)s/g, token.projectId ?? '');
    const entry = token.catalog.find((each) => each.type === service);
    if (entry === undefined) {
      throw new OpenStackHttpError(404, service, 'GET', '(catalog)', `the service catalog of ${this.cloud.source} has no '${service}' service (has: ${token.catalog.map((each) => each.type).join(', ') || 'none'})`);
    }
    const region = this.cloud.regionName;
    const endpoint = entry.endpoints.find((each) => each.interface === this.cloud.interface && (region === null || each.region_id === region || each.region === region));
    if (endpoint === undefined) {
      // Say what the catalog has, so a wrong region_name or interface in clouds.yaml is fixed at once.
      const offered = [...new Set(entry.endpoints.map((each) => `${each.interface} in ${each.region_id ?? each.region ?? 'no region'}`))].join(', ') || 'none';
      throw new OpenStackHttpError(
        404,
        service,
        'GET',
        '(catalog)',
        `the '${service}' service has no ${this.cloud.interface} endpoint${region === null ? '' : ` in region ${region}`}; the catalog has: ${offered} (check ${this.cloud.source.startsWith('OS_') ? 'OS_REGION_NAME and OS_INTERFACE' : `region_name and interface of ${this.cloud.source}`})`,
      );
    }
    return endpoint.url.replace(/\/+$/, '');
  }
}

interface KeystoneToken {
  expires_at: string;
  project?: { id: string };
  user?: { id: string };
  catalog?: CatalogEntry[];
}

function authBody(auth: CloudConfig['auth']): unknown {
  const user = {
    ...(auth.userId ? { id: auth.userId } : {}),
    ...(auth.username ? { name: auth.username } : {}),
    ...(auth.userId ? {} : { domain: auth.userDomainId ? { id: auth.userDomainId } : { name: auth.userDomainName } }),
  };
  if (auth.type === 'application-credential') {
    return {
      identity: {
        methods: ['application_credential'],
        application_credential: auth.id ? { id: auth.id, secret: auth.secret } : { name: auth.name, secret: auth.secret, user },
      },
    };
  }
  const project = auth.projectId
    ? { id: auth.projectId }
    : { name: auth.projectName, domain: auth.projectDomainId ? { id: auth.projectDomainId } : { name: auth.projectDomainName } };
  return { identity: { methods: ['password'], password: { user: { ...user, password: auth.password } } }, scope: { project } };
}

/** The cloud's sentence out of an error body of any OpenStack service. */
export function messageOf(body: unknown): string {
  if (typeof body === 'string') return body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 500);
  if (typeof body !== 'object' || body === null) return '';
  const record = body as Record<string, unknown>;
  const error = record.error as Record<string, unknown> | undefined;
  if (error && typeof error === 'object') {
    const message = typeof error.message === 'string' ? error.message : '';
    const explanation = typeof record.explanation === 'string' ? record.explanation : '';
    return [explanation, message].filter(Boolean).join(': ');
  }
  // Nova: {"forbidden": {"message": "...", "code": 403}}, {"itemNotFound": {...}}
  for (const value of Object.values(record)) {
    if (value && typeof value === 'object' && typeof (value as Record<string, unknown>).message === 'string') return (value as { message: string }).message;
  }
  return JSON.stringify(body).slice(0, 500);
}

function queryString(query: RequestOptions['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

function describe(error: unknown): string {
  if (error instanceof OpenStackHttpError) return error.message;
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  return code ? `${code}: ${message}` : message;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
