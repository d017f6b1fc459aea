import type { Logger } from 'pino';

import type { BackendHealth } from './backend-health.ts';
import type { BackendPools } from './backend-pools.ts';
import type { ClientReply, ClientRequest, ReplyListener } from './client-reply.ts';
import type { EndpointAddress } from './endpoint-address.ts';
import { nextLiveEndpoint } from './endpoint-selection.ts';
import { backendRequestHeaders } from './forwarded-headers.ts';
import { GearError, type GearControl, type GearExchange, type GearRequest } from './gear-client.ts';
import type { GearResponseHead } from './gear-response-parser.ts';
import { hostName, hostPort } from './host-name.ts';
import type { IndexedRoute, RouteIndex } from './route-index.ts';

export interface GearProxyOptions {
  readonly pools: BackendPools;
  readonly health: BackendHealth;
  readonly log: Logger;
  /** The current route index, or undefined before the first table arrived. */
  readonly routes: () => RouteIndex | undefined;
  /** The port the router listens on, for X-Forwarded-Port when the Host header has none. */
  readonly listenPort: () => number;
  /** For the 504 message. */
  readonly idleTimeoutMs: number;
}

/**
 * Methods whose request may be sent twice (RFC 9110 §9.2.2). A retry also needs the request
 * body to be replayable; the router streams bodies without keeping them, so only body-less
 * requests are retried.
 */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Methods that carry no body by default; others get Content-Length: 0 when body-less. */
const BODYLESS_BY_DEFAULT = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** The gear cannot be connected to: take the endpoint out at once. */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'GEAR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT']);

/**
 * The connection broke under the request: a dead gear, or a keep-alive socket the gear closed
 * just as it was reused. Which one is learnt by trying the same gear once more on a fresh
 * connection: a dead gear then refuses (and is taken out), a live one answers.
 */
const CONNECTION_BROKEN = new Set(['ECONNRESET', 'EPIPE', 'GEAR_CLOSED']);

/** A character a request target must not hold (it is written into the request line as it is; as undici refuses). */
const INVALID_PATH = /[^\u0021-\u00ff]/;

/**
 * The proxying half of the router: Host → route → endpoint (round robin over live ones) → a
 * streamed request over the endpoint's keep-alive pool, with passive health and retries for
 * idempotent, body-less requests that failed before the client saw a byte.
 */
export class GearProxy {
  private portText = '';

  constructor(private readonly options: GearProxyOptions) {}

  /** The listening port as X-Forwarded-Port gives it (known once the server listens). */
  private listenPortText(): string {
    if (this.portText === '') {
      const port = this.options.listenPort();
      if (port === 0) return '0';
      this.portText = String(port);
    }
    return this.portText;
  }

  /** Handles a request that is not for the router itself. */
  handle(request: ClientRequest, reply: ClientReply): void {
    const routes = this.options.routes();
    // What routing and framing need, read from the raw headers (cheaper than `request.headers`,
    // which builds an object of them all). Node's parser has refused a request with a
    // malformed, or both a Content-Length and a Transfer-Encoding, header.
    const rawHeaders = request.rawHeaders;
    let rawHost: string | undefined;
    let hosts = 0;
    let length: string | undefined;
    let chunked = false;
    for (let index = 0; index < rawHeaders.length; index += 2) {
      const name = rawHeaders[index]!;
      if (name.length === 4) {
        if (name.toLowerCase() === 'host' && hosts++ === 0) rawHost = rawHeaders[index + 1];
      } else if (name.length === 14) {
        if (name.toLowerCase() === 'content-length') length = rawHeaders[index + 1];
      } else if (name.length === 17) {
        if (name.toLowerCase() === 'transfer-encoding') chunked = true;
      }
    }
    const host = hostName(rawHost);
    if (routes === undefined) return plain(reply, 503, 'the router has no route table yet (the broker has not answered)');
    const route = routes.get(host);
    if (route === undefined) return plain(reply, 404, host === '' ? 'no Host header: the router routes by host name' : `no app is routed at host ${host}`);
    if (route.entry.desiredState === 'stopped') return plain(reply, 503, `app ${route.name} is stopped`);
    if (route.targets.length === 0) return plain(reply, 503, `app ${route.name} has no started gear`);

    const index = nextLiveEndpoint(route.endpoints, route.cursor, this.options.health.isDown);
    if (index === -1) return plain(reply, 503, `app ${route.name} has no live gear: all ${route.targets.length} of its gear endpoints are failing and being probed`);
    route.cursor = index + 1;

    const path = request.url;
    const refused = hosts > 1 ? 'duplicate host header' : refusedPath(path);
    if (refused !== undefined) return plain(reply, 502, `app ${route.name}: the router could not forward this request (${refused})`);

    const headers = backendRequestHeaders(rawHeaders, {
      clientIp: request.clientIp,
      host: rawHost ?? '',
      proto: request.encrypted ? 'https' : 'http',
      port: hostPort(rawHost) ?? this.listenPortText(),
    });
    const method = request.method;
    const bodyless = (length === undefined || length === '0') && !chunked;
    // HTTP says a request with neither header has no body; a client library would send a POST chunked.
    if (bodyless && length === undefined && !BODYLESS_BY_DEFAULT.has(method)) headers.push('Content-Length', '0');
    let headerLines = '';
    for (let at = 0; at < headers.length; at += 2) headerLines += `${headers[at]!}: ${headers[at + 1]!}\r\n`;
    const gearRequest: GearRequest = { method, path, headerLines, body: bodyless ? null : request.body, chunked: !bodyless && chunked };
    const exchange = new ProxiedRequest(this, reply, route, gearRequest, bodyless && IDEMPOTENT.has(method));
    exchange.forward(route.targets[index]!, false);
  }

  /** An attempt failed before the response started: take the gear out, retry, or answer 502/504. */
  failed(exchange: ProxiedRequest, target: EndpointAddress, error: Error): void {
    const { reply, route } = exchange;
    // (Not the request's `destroyed`: a request whose body has been read through is destroyed too.)
    if (reply.closed) return;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (CONNECTION_BROKEN.has(code) && exchange.sameEndpointRetry) {
      exchange.sameEndpointRetry = false;
      return exchange.forward(target, true);
    }
    if (CONNECT_FAILURES.has(code) || CONNECTION_BROKEN.has(code)) this.options.health.eject(target.endpoint, describeFailure(error));
    if (exchange.otherEndpointRetry) {
      exchange.otherEndpointRetry = false;
      exchange.sameEndpointRetry = false;
      const nextIndex = nextLiveEndpoint(route.endpoints, route.cursor, this.options.health.isDown, target.endpoint);
      if (nextIndex !== -1) {
        route.cursor = nextIndex + 1;
        return exchange.forward(route.targets[nextIndex]!, false);
      }
    }
    this.options.log.warn({ app: route.name, endpoint: target.endpoint, error: describeFailure(error) }, 'proxy: gear request failed');
    if (code === 'GEAR_HEADERS_TIMEOUT') plain(reply, 504, `app ${route.name}: its gear did not answer within ${Math.round(this.options.idleTimeoutMs / 1000)} s`);
    else plain(reply, 502, `app ${route.name}: its gear failed to answer (${describeFailure(error)})`);
  }

  get pools(): BackendPools {
    return this.options.pools;
  }
}

/**
 * One client request on its way to a gear, and the relay of the gear's response back to the
 * client as it is parsed, chunk by chunk, pausing the gear connection while the client's socket
 * is full (backpressure both ways: the upload is read only as fast as the gear takes it).
 */
class ProxiedRequest implements GearExchange, ReplyListener {
  /** What a failed attempt may still try: the same endpoint once (after a broken connection)… */
  sameEndpointRetry: boolean;
  /** …and one other endpoint. Each at most once, so a request costs at most three attempts. */
  otherEndpointRetry: boolean;
  /** The endpoint of the attempt under way (a retry is another attempt, on its own connection). */
  private target: EndpointAddress | undefined;
  private control: GearControl | undefined;
  private ended = false;
  private clientGone = false;
  /** Reading from the gear is paused until the client's socket drains. */
  private waitingForDrain = false;

  constructor(
    private readonly proxy: GearProxy,
    readonly reply: ClientReply,
    readonly route: IndexedRoute,
    private readonly gearRequest: GearRequest,
    retries: boolean,
  ) {
    this.sameEndpointRetry = retries;
    this.otherEndpointRetry = retries;
    reply.listener = this;
  }

  /** Sends the request to `target` (on a new connection when `fresh`). */
  forward(target: EndpointAddress, fresh: boolean): void {
    this.control = undefined;
    this.target = target;
    this.proxy.pools.get(target).dispatch(this.gearRequest, this, fresh);
  }

  /** The client went away: the gear must not go on working for nobody. */
  onClientGone(): void {
    if (this.ended) return;
    this.clientGone = true;
    this.control?.abort();
  }

  onReplyDrain(): void {
    if (!this.waitingForDrain) return;
    this.waitingForDrain = false;
    this.control?.resume();
  }

  onStart(control: GearControl): boolean {
    if (this.clientGone) return false;
    this.control = control;
    return true;
  }

  onResponseHead(head: GearResponseHead): void {
    try {
      this.reply.writeHead(head.status, head.reason, head.headers);
    } catch (error) {
      // A header (or status) node:http refuses to send: a malformed response.
      this.control?.abort();
      this.proxy.failed(this, this.target!, new GearError('GEAR_BAD_RESPONSE', `invalid response: ${(error as Error).message}`));
    }
  }

  onResponseBody(chunk: Buffer, last: boolean): void {
    if (last) {
      this.finish(chunk);
    } else if (!this.reply.write(chunk) && !this.waitingForDrain) {
      this.waitingForDrain = true;
      this.control?.pause();
    }
  }

  onResponseEnd(): void {
    if (!this.ended) this.finish(undefined);
  }

  onFailure(error: Error, responseStarted: boolean): void {
    this.control = undefined;
    // Bytes already went to the client: the only honest signal left is a cut connection.
    if (responseStarted || this.reply.headersSent) {
      this.ended = true;
      this.reply.destroy();
    } else {
      this.proxy.failed(this, this.target!, error);
    }
  }

  private finish(chunk: Buffer | undefined): void {
    this.ended = true;
    this.control = undefined;
    this.reply.end(chunk);
  }
}

/** Why a request target cannot be forwarded, or undefined when it can. */
function refusedPath(path: string): string | undefined {
  if (path.charCodeAt(0) !== 47 /* / */ && !path.startsWith('http://') && !path.startsWith('https://')) return 'path must be an absolute URL or start with a slash';
  if (INVALID_PATH.test(path)) return 'invalid request path';
  return undefined;
}

/** A short text answer from the router itself. */
export function plain(reply: ClientReply, status: number, message: string): void {
  if (reply.headersSent) {
    reply.destroy();
    return;
  }
  const body = `${message}\n`;
  reply.writeHead(status, undefined, ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store']);
  reply.end(body);
}

function describeFailure(error: Error): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'GEAR_CLOSED':
      return 'connection closed by the gear';
    case 'GEAR_CONNECT_TIMEOUT':
      return 'connect timed out';
    case 'GEAR_HEADERS_TIMEOUT':
      return 'no response headers in time';
    default:
      return error.message;
  }
}
