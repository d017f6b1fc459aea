import { request as httpRequest, type Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';

import type { Logger } from 'pino';

import type { BackendHealth } from './backend-health.ts';
import type { EndpointAddress } from './endpoint-address.ts';
import { nextLiveEndpoint } from './endpoint-selection.ts';
import { backendRequestHeaders, clientResponseHeaders } from './forwarded-headers.ts';
import { hostName, hostPort } from './host-name.ts';
import type { IndexedRoute, RouteIndex } from './route-index.ts';

export interface GearProxyOptions {
  readonly agent: Agent;
  readonly health: BackendHealth;
  readonly log: Logger;
  /** The current route index, or undefined before the first table arrived. */
  readonly routes: () => RouteIndex | undefined;
  /** The port the router listens on, for X-Forwarded-Port when the Host header has none. */
  readonly listenPort: () => number;
  /** A connect slower than this takes the endpoint out. */
  readonly connectTimeoutMs: number;
  /** A backend silent this long (no headers, no body bytes) is abandoned: 504, or a cut response. */
  readonly idleTimeoutMs: number;
}

/**
 * Methods whose request may be sent twice (RFC 9110 §9.2.2). A retry also needs the request
 * body to be replayable; the router streams bodies without keeping them, so only body-less
 * requests are retried.
 */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Methods for which Node sends no body by default; others get Content-Length: 0 when body-less. */
const BODYLESS_BY_DEFAULT = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** Errors that say the endpoint itself is unusable (as opposed to one request going wrong). */
const CONNECTION_FAILURES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED', 'EADDRNOTAVAIL']);

/**
 * What a failed attempt may still try: the same endpoint once on a fresh connection (after a
 * stale keep-alive socket), and one other endpoint. Each at most once, so a request costs at most
 * three attempts.
 */
interface Retries {
  readonly sameEndpoint: boolean;
  readonly otherEndpoint: boolean;
}
const BOTH_RETRIES: Retries = { sameEndpoint: true, otherEndpoint: true };
const NO_RETRY: Retries = { sameEndpoint: false, otherEndpoint: false };

/** Our own marker for a connect that took longer than connectTimeoutMs. */
const CONNECT_TIMEOUT = 'ETIMEDOUT';

/**
 * The proxying half of the router: Host → route → endpoint (round robin over live ones) → a
 * streamed request over a keep-alive agent, with passive health and one retry for idempotent,
 * body-less requests that failed before the client saw a byte.
 */
export class GearProxy {
  constructor(private readonly options: GearProxyOptions) {}

  /** Handles a request that is not for the router itself. */
  handle(request: IncomingMessage, response: ServerResponse): void {
    const routes = this.options.routes();
    const rawHost = request.headers.host;
    const host = hostName(rawHost);
    if (routes === undefined) return plain(response, 503, 'the router has no route table yet (the broker has not answered)');
    const route = routes.get(host);
    if (route === undefined) return plain(response, 404, host === '' ? 'no Host header: the router routes by host name' : `no app is routed at host ${host}`);
    if (route.entry.desiredState === 'stopped') return plain(response, 503, `app ${route.name} is stopped`);
    if (route.targets.length === 0) return plain(response, 503, `app ${route.name} has no started gear`);

    const index = nextLiveEndpoint(route.endpoints, route.cursor, this.options.health.isDown);
    if (index === -1) return plain(response, 503, `app ${route.name} has no live gear: all ${route.targets.length} of its gear endpoints are failing and being probed`);
    route.cursor = index + 1;

    const socket = request.socket;
    const headers = backendRequestHeaders(request.rawHeaders, {
      clientIp: socket.remoteAddress ?? '',
      host: rawHost ?? '',
      proto: 'encrypted' in socket && socket.encrypted === true ? 'https' : 'http',
      port: hostPort(rawHost) ?? String(this.options.listenPort()),
    });
    const headersWithLength = request.headers['content-length'];
    const bodyless = (headersWithLength === undefined || headersWithLength === '0') && request.headers['transfer-encoding'] === undefined;
    // HTTP says a request with neither header has no body; Node would send a POST chunked.
    if (bodyless && headersWithLength === undefined && !BODYLESS_BY_DEFAULT.has(request.method ?? 'GET')) headers.push('Content-Length', '0');
    const retryable = bodyless && IDEMPOTENT.has(request.method ?? 'GET');
    this.forward(request, response, route, route.targets[index]!, headers, bodyless, retryable ? BOTH_RETRIES : NO_RETRY);
  }

  private forward(request: IncomingMessage, response: ServerResponse, route: IndexedRoute, target: EndpointAddress, headers: string[], bodyless: boolean, retries: Retries): void {
    const { agent, connectTimeoutMs, idleTimeoutMs } = this.options;
    let settled = false;
    const upstream: ClientRequest = httpRequest({
      host: target.host,
      port: target.port,
      method: request.method,
      path: request.url,
      headers,
      agent,
      setHost: false,
      timeout: idleTimeoutMs,
    });

    const fail = (error: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      const code = error.code ?? '';
      // A keep-alive socket the gear closed while idle fails at once with ECONNRESET: that is a
      // race on an old connection, not a dead gear, so it neither takes the endpoint out nor
      // counts as this request's one retry on another gear.
      const staleKeepAlive = upstream.reusedSocket && code === 'ECONNRESET' && !response.headersSent;
      if (!staleKeepAlive && CONNECTION_FAILURES.has(code)) this.options.health.eject(target.endpoint, describeFailure(error));
      if (response.headersSent || response.destroyed) {
        // Bytes already went to the client: the only honest signal left is a cut connection.
        response.destroy();
        return;
      }
      if (!request.destroyed) {
        if (staleKeepAlive && retries.sameEndpoint) {
          // The same gear, on a fresh connection: it has not failed, its old socket has.
          return this.forward(request, response, route, target, headers, bodyless, { sameEndpoint: false, otherEndpoint: retries.otherEndpoint });
        }
        const nextIndex = retries.otherEndpoint ? nextLiveEndpoint(route.endpoints, route.cursor, this.options.health.isDown, target.endpoint) : -1;
        if (nextIndex !== -1) {
          route.cursor = nextIndex + 1;
          return this.forward(request, response, route, route.targets[nextIndex]!, headers, bodyless, NO_RETRY);
        }
      }
      this.options.log.warn({ app: route.name, endpoint: target.endpoint, error: describeFailure(error) }, 'proxy: gear request failed');
      if (code === 'EIDLE') plain(response, 504, `app ${route.name}: its gear did not answer within ${Math.round(idleTimeoutMs / 1000)} s`);
      else plain(response, 502, `app ${route.name}: its gear failed to answer (${describeFailure(error)})`);
    };

    upstream.on('error', fail);
    upstream.on('timeout', () => {
      upstream.destroy(Object.assign(new Error('gear idle too long'), { code: 'EIDLE' }));
    });
    upstream.on('socket', (socket) => {
      // Only new connections connect; a reused keep-alive socket costs no timer.
      if (!socket.connecting) return;
      const timer = setTimeout(() => upstream.destroy(Object.assign(new Error(`connect timed out after ${connectTimeoutMs} ms`), { code: CONNECT_TIMEOUT })), connectTimeoutMs);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    upstream.on('response', (backendResponse: IncomingMessage) => {
      settled = true;
      response.writeHead(backendResponse.statusCode ?? 502, backendResponse.statusMessage, clientResponseHeaders(backendResponse.rawHeaders));
      backendResponse.on('error', () => response.destroy());
      backendResponse.on('aborted', () => response.destroy());
      backendResponse.pipe(response);
    });
    // A client that goes away must not leave the gear working for nobody.
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });

    if (bodyless) upstream.end();
    else request.pipe(upstream);
  }
}

/** A short text answer from the router itself. */
export function plain(response: ServerResponse, status: number, message: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = `${message}\n`;
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  response.end(body);
}

function describeFailure(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case CONNECT_TIMEOUT:
      return error.message;
    case 'EIDLE':
      return 'gear idle too long';
    default:
      return error.code === undefined ? error.message : `${error.code}: ${error.message}`;
  }
}
