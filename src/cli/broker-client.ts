import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { GeartideError } from '../core/errors.ts';
import type { ErrorCategory } from '../core/errors.ts';
import type {
  ApiAutoscalerStatus,
  ApiScalePlan,
  ApiApp,
  ApiCreatedToken,
  ApiCreatedUser,
  ApiCurrentUser,
  ApiDistrict,
  ApiDomain,
  ApiDrain,
  ApiEvent,
  ApiGear,
  ApiHealth,
  ApiMove,
  ApiNode,
  ApiRouter,
  ApiSource,
  ApiTokenSummary,
  ApiUser,
  CreateAppRequest,
  CreateDistrictRequest,
  CreateMovesRequest,
  CreateMovesResponse,
  CreateUserRequest,
  DrainNodeRequest,
  ListEventsQuery,
  ListResponse,
  ScaleAppRequest,
} from './api-types.ts';

export interface BrokerClientOptions {
  /** Base URL of the broker, without /api/v1. */
  readonly brokerUrl: string;
  readonly token?: string | undefined;
  /** How long to wait for response headers; an app create may wait for placement. */
  readonly headersTimeoutMs?: number;
}

export interface EventStreamOptions {
  readonly after?: number | undefined;
  /** Sent as Last-Event-ID when resuming a dropped stream. */
  readonly lastEventId?: number | undefined;
  readonly kind?: string | undefined;
  readonly signal?: AbortSignal;
  /** A stream with neither data nor keep-alive for this long is treated as dropped. */
  readonly idleTimeoutMs?: number;
}

type AppAction = 'start' | 'stop' | 'restart';

/**
 * Typed access to the broker's REST API (/api/v1). Every failure surfaces as a GeartideError:
 * an API error body keeps its `code` and `field` and gets the category its HTTP status stands
 * for; a broker that cannot be reached becomes `broker_unreachable` with a hint. The token is
 * only ever put in the Authorization header, never in a message.
 */
export class BrokerClient {
  readonly brokerUrl: string;
  readonly #token: string | undefined;
  readonly #dispatcher: Agent;
  readonly #headersTimeoutMs: number;

  constructor(options: BrokerClientOptions) {
    this.brokerUrl = options.brokerUrl.replace(/\/+$/, '');
    this.#token = options.token;
    // Longer than the broker's APP_CREATE_WAIT can hold an app create while a node host boots.
    this.#headersTimeoutMs = options.headersTimeoutMs ?? 300_000;
    // An agent of our own, so main() can close its sockets and let the process exit at once.
    this.#dispatcher = new Agent({ headersTimeout: this.#headersTimeoutMs });
  }

  async close(): Promise<void> {
    await this.#dispatcher.destroy();
  }

  // --- platform and the caller ---------------------------------------------------------------

  health(): Promise<ApiHealth> {
    return this.#call('GET', '/health');
  }

  currentUser(): Promise<ApiCurrentUser> {
    return this.#call('GET', '/user');
  }

  createToken(body: { name?: string; expiresInSeconds?: number }): Promise<ApiCreatedToken> {
    return this.#call('POST', '/user/tokens', body);
  }

  listTokens(): Promise<ListResponse<ApiTokenSummary>> {
    return this.#call('GET', '/user/tokens');
  }

  deleteToken(id: string): Promise<void> {
    return this.#call('DELETE', `/user/tokens/${segment(id)}`);
  }

  // --- users (admin) -------------------------------------------------------------------------

  createUser(body: CreateUserRequest): Promise<ApiCreatedUser> {
    return this.#call('POST', '/users', body);
  }

  listUsers(): Promise<ListResponse<ApiUser>> {
    return this.#call('GET', '/users');
  }

  deleteUser(login: string): Promise<void> {
    return this.#call('DELETE', `/users/${segment(login)}`);
  }

  // --- domains and apps ----------------------------------------------------------------------

  createDomain(name: string): Promise<ApiDomain> {
    return this.#call('POST', '/domains', { name });
  }

  listDomains(): Promise<ListResponse<ApiDomain>> {
    return this.#call('GET', '/domains');
  }

  getDomain(name: string): Promise<ApiDomain> {
    return this.#call('GET', `/domains/${segment(name)}`);
  }

  deleteDomain(name: string): Promise<void> {
    return this.#call('DELETE', `/domains/${segment(name)}`);
  }

  createApp(domain: string, body: CreateAppRequest): Promise<ApiApp> {
    return this.#call('POST', `/domains/${segment(domain)}/apps`, body);
  }

  /** The apps of one domain, or, without a domain, every app the caller can see. */
  listApps(domain?: string): Promise<ListResponse<ApiApp>> {
    return this.#call('GET', domain === undefined ? '/apps' : `/domains/${segment(domain)}/apps`);
  }

  getApp(domain: string, app: string): Promise<ApiApp> {
    return this.#call('GET', appPath(domain, app));
  }

  deleteApp(domain: string, app: string): Promise<void> {
    return this.#call('DELETE', appPath(domain, app));
  }

  appAction(domain: string, app: string, action: AppAction): Promise<ApiApp> {
    return this.#call('POST', `${appPath(domain, app)}/${action}`);
  }

  scaleApp(domain: string, app: string, body: ScaleAppRequest): Promise<ApiApp> {
    return this.#call('POST', `${appPath(domain, app)}/scale`, body);
  }

  /** Uploads an app's source (a tar.gz of its directory); its id goes to createApp or deployApp. */
  async uploadSource(archive: Buffer): Promise<ApiSource> {
    const response = await this.#send('POST', '/sources', archive, { accept: 'application/json', 'content-type': 'application/gzip' });
    return this.#parse('POST', '/sources', response);
  }

  /** Runs another uploaded source: the app's gears fetch it and restart. */
  deployApp(domain: string, app: string, source: string): Promise<ApiApp> {
    return this.#call('POST', `${appPath(domain, app)}/deploy`, { source });
  }

  getGear(id: string): Promise<ApiGear & { app: string; domain: string }> {
    return this.#call('GET', `/gears/${segment(id)}`);
  }

  // --- districts and nodes (admin) -----------------------------------------------------------

  createDistrict(body: CreateDistrictRequest): Promise<ApiDistrict> {
    return this.#call('POST', '/districts', body);
  }

  listDistricts(): Promise<ListResponse<ApiDistrict>> {
    return this.#call('GET', '/districts');
  }

  getDistrict(name: string): Promise<ApiDistrict> {
    return this.#call('GET', `/districts/${segment(name)}`);
  }

  addDistrictNode(district: string, node: string): Promise<ApiDistrict> {
    return this.#call('POST', `/districts/${segment(district)}/nodes`, { node });
  }

  removeDistrictNode(district: string, node: string): Promise<ApiDistrict> {
    return this.#call('DELETE', `/districts/${segment(district)}/nodes/${segment(node)}`);
  }

  setDistrictNodeActive(district: string, node: string, active: boolean): Promise<ApiDistrict> {
    return this.#call('POST', `/districts/${segment(district)}/nodes/${segment(node)}/${active ? 'activate' : 'deactivate'}`);
  }

  changeDistrictCapacity(district: string, change: { add: number } | { remove: number }): Promise<ApiDistrict> {
    return this.#call('POST', `/districts/${segment(district)}/capacity`, change);
  }

  listNodes(): Promise<ListResponse<ApiNode>> {
    return this.#call('GET', '/nodes');
  }

  getNode(name: string): Promise<ApiNode> {
    return this.#call('GET', `/nodes/${segment(name)}`);
  }

  setNodeActive(name: string, active: boolean): Promise<ApiNode> {
    return this.#call('POST', `/nodes/${segment(name)}/${active ? 'activate' : 'deactivate'}`);
  }

  listRouters(): Promise<ListResponse<ApiRouter>> {
    return this.#call('GET', '/routers');
  }

  // --- moves and drains (admin, docs/moves.md) ------------------------------------------------

  /** 202: one move per gear, already running on the broker; `refused` lists gears that got none. */
  createMoves(body: CreateMovesRequest): Promise<CreateMovesResponse> {
    return this.#call('POST', '/moves', body);
  }

  getMove(id: string): Promise<ApiMove> {
    return this.#call('GET', `/moves/${segment(id)}`);
  }

  listMoves(query: { status?: ApiMove['status'] } = {}): Promise<ListResponse<ApiMove>> {
    return this.#call('GET', `/moves${queryString({ status: query.status })}`);
  }

  /** 202 with the drain; 409 `drain_refused` with the planner's reason when the gears do not fit. */
  drainNode(name: string, body: DrainNodeRequest = {}): Promise<ApiDrain> {
    return this.#call('POST', `/nodes/${segment(name)}/drain`, body);
  }

  /** The newest drain of the node. */
  getDrain(name: string): Promise<ApiDrain> {
    return this.#call('GET', `/nodes/${segment(name)}/drain`);
  }

  cancelDrain(name: string): Promise<ApiDrain> {
    return this.#call('POST', `/nodes/${segment(name)}/cancel-drain`);
  }

  autoscalerStatus(): Promise<ApiAutoscalerStatus> {
    return this.#call('GET', '/autoscaler');
  }

  autoscalerPlan(): Promise<{ items: ApiScalePlan[] }> {
    return this.#call('GET', '/autoscaler/plan');
  }

  pauseAutoscaler(action: 'pause' | 'resume', pool?: string): Promise<ApiAutoscalerStatus> {
    return this.#call('POST', `/autoscaler/${action}`, pool === undefined ? {} : { pool });
  }

  // --- events --------------------------------------------------------------------------------

  listEvents(query: ListEventsQuery = {}): Promise<ListResponse<ApiEvent>> {
    return this.#call('GET', `/events${queryString({ after: query.after, limit: query.limit, kind: query.kind, newest: query.newest === true ? 'true' : undefined })}`);
  }

  /**
   * Open the Server-Sent Events stream and return its body once the broker has answered 200 with
   * text/event-stream. The caller parses it (see SseParser) and reconnects when it ends.
   */
  async openEventStream(options: EventStreamOptions = {}): Promise<AsyncIterable<Buffer>> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId !== undefined) headers['last-event-id'] = String(options.lastEventId);
    const path = `/events${queryString({ follow: 'true', after: options.after, kind: options.kind })}`;
    const response = await this.#send('GET', path, undefined, headers, {
      signal: options.signal,
      // The broker sends keep-alive comments, so silence this long means the stream is dead.
      bodyTimeout: options.idleTimeoutMs ?? 120_000,
    });
    const contentType = String(response.headers['content-type'] ?? '');
    if (response.statusCode !== 200 || !contentType.startsWith('text/event-stream')) {
      throw await errorFromResponse(response);
    }
    return response.body;
  }

  // --- plumbing ------------------------------------------------------------------------------

  async #call<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.#send(method, path, body === undefined ? undefined : JSON.stringify(body), headers);
    return this.#parse(method, path, response);
  }

  async #parse<T>(method: Dispatcher.HttpMethod, path: string, response: Dispatcher.ResponseData): Promise<T> {
    if (response.statusCode >= 400) throw await errorFromResponse(response);
    if (response.statusCode === 204) {
      await response.body.dump();
      return undefined as T;
    }
    const text = await response.body.text();
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new GeartideError('bad_response', 'internal', `the broker answered ${method} ${path} with something that is not JSON (HTTP ${response.statusCode})`);
    }
  }

  async #send(
    method: Dispatcher.HttpMethod,
    path: string,
    body: string | Buffer | undefined,
    headers: Record<string, string>,
    extra: { signal?: AbortSignal | undefined; bodyTimeout?: number } = {},
  ): Promise<Dispatcher.ResponseData> {
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    try {
      return await request(`${this.brokerUrl}/api/v1${path}`, {
        method,
        headers,
        body,
        dispatcher: this.#dispatcher,
        signal: extra.signal,
        ...(extra.bodyTimeout === undefined ? {} : { bodyTimeout: extra.bodyTimeout }),
      });
    } catch (error) {
      throw connectionError(error, this.brokerUrl, this.#headersTimeoutMs);
    }
  }
}

function appPath(domain: string, app: string): string {
  return `/domains/${segment(domain)}/apps/${segment(app)}`;
}

function segment(value: string): string {
  return encodeURIComponent(value);
}

function queryString(parameters: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(parameters)) {
    if (value !== undefined) search.set(key, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** The error category an HTTP status stands for: the inverse of the broker's one mapping. */
export function categoryForStatus(status: number, code?: string): ErrorCategory {
  // 409 and 503 are shared by "conflict"/"transient" and "exhausted"; the code tells them apart.
  if (code !== undefined && /exhausted|no_capacity|quota/.test(code) && (status === 409 || status === 503)) return 'exhausted';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  if (status === 502 || status === 503 || status === 504) return 'transient';
  if (status >= 400 && status < 500) return 'input';
  return 'internal';
}

async function errorFromResponse(response: Dispatcher.ResponseData): Promise<GeartideError> {
  const status = response.statusCode;
  let text = '';
  try {
    text = await response.body.text();
  } catch {
    // A body we cannot read still leaves the status to report.
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const body = (parsed as { error?: { code?: unknown; message?: unknown; field?: unknown } } | undefined)?.error;
  if (body !== undefined && typeof body.code === 'string' && typeof body.message === 'string') {
    const field = typeof body.field === 'string' ? body.field : undefined;
    return new GeartideError(body.code, categoryForStatus(status, body.code), body.message, {
      status,
      ...(field === undefined ? {} : { field }),
    });
  }
  // Not the contract's error shape: a proxy in between, or not a geartide broker at all.
  return new GeartideError(`http_${status}`, categoryForStatus(status), `the broker answered HTTP ${status}${status === 200 ? ' with an unexpected content type' : ''}`, { status });
}

function connectionError(error: unknown, brokerUrl: string, headersTimeoutMs: number): unknown {
  if (error instanceof Error && error.name === 'AbortError') return error;
  const code = errorCode(error);
  switch (code) {
    case 'ECONNREFUSED':
      return new GeartideError('broker_unreachable', 'transient', `cannot reach the broker at ${brokerUrl}: is it running? (geartide up)`, {}, { cause: error });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new GeartideError('broker_unreachable', 'transient', `cannot resolve the broker's host in ${brokerUrl}: check GEARTIDE_URL or brokerUrl in config.json`, {}, { cause: error });
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new GeartideError('broker_timeout', 'transient', `the broker at ${brokerUrl} did not answer within ${Math.round(headersTimeoutMs / 1000)}s`, {}, { cause: error });
    case undefined:
      return error;
    default:
      return new GeartideError('broker_unreachable', 'transient', `cannot reach the broker at ${brokerUrl}: ${code}`, {}, { cause: error });
  }
}

/**
 * The system error code behind a failed request. undici rejects with the socket error itself,
 * or, when "localhost" resolves to both ::1 and 127.0.0.1, with an AggregateError of them.
 */
function errorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const record = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof record.code === 'string') return record.code;
  if (Array.isArray(record.errors)) {
    for (const inner of record.errors) {
      const code = errorCode(inner);
      if (code !== undefined) return code;
    }
  }
  return record.cause === undefined ? undefined : errorCode(record.cause);
}
