import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';

import type { BackendHealth } from './backend-health.ts';
import type { BackendPools } from './backend-pools.ts';
import type { EndpointAddress } from './endpoint-address.ts';
import { nextLiveEndpoint } from './endpoint-selection.ts';
import { backendRequestHeaders, responseHeaderList } from './forwarded-headers.ts';
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
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT']);

/**
 * The connection broke under the request: a dead gear, or a keep-alive socket the gear closed
 * just as it was reused. Which one is learnt by trying the same gear once more on a fresh
 * connection: a dead gear then refuses (and is taken out), a live one answers.
 */
const CONNECTION_BROKEN = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/**
 * What a failed attempt may still try: the same endpoint once (after a broken connection) and
 * one other endpoint. Each at most once, so a request costs at most three attempts.
 */
interface Retries {
  readonly sameEndpoint: boolean;
  readonly otherEndpoint: boolean;
}
const BOTH_RETRIES: Retries = { sameEndpoint: true, otherEndpoint: true };
const NO_RETRY: Retries = { sameEndpoint: false, otherEndpoint: false };

/**
 * The proxying half of the router: Host → route → endpoint (round robin over live ones) → a
 * streamed request over the endpoint's keep-alive pool, with passive health and retries for
 * idempotent, body-less requests that failed before the client saw a byte.
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
    const method = request.method ?? 'GET';
    const length = request.headers['content-length'];
    const bodyless = (length === undefined || length === '0') && request.headers['transfer-encoding'] === undefined;
    // HTTP says a request with neither header has no body; a client library would send a POST chunked.
    if (bodyless && length === undefined && !BODYLESS_BY_DEFAULT.has(method)) headers.push('Content-Length', '0');
    const exchange: Exchange = { request, response, route, method, headers, bodyless };
    // One listener for the whole exchange, whatever the attempt (the response points to the current one).
    response.on('close', onClientClose);
    this.forward(exchange, route.targets[index]!, bodyless && IDEMPOTENT.has(method) ? BOTH_RETRIES : NO_RETRY);
  }

  private forward(exchange: Exchange, target: EndpointAddress, retries: Retries): void {
    const { request, response, route } = exchange;
    const handler = new ResponseRelay(this, exchange, target, retries);
    try {
      this.options.pools.get(target).dispatch({ method: exchange.method as Dispatcher.HttpMethod, path: request.url ?? '/', headers: exchange.headers, body: exchange.bodyless ? null : request }, handler);
    } catch (error) {
      // undici refuses some requests synchronously (a header it will not send).
      handler.detach();
      plain(response, 502, `app ${route.name}: the router could not forward this request (${(error as Error).message})`);
    }
  }

  /** An attempt failed before the response started: take the gear out, retry, or answer 502/504. */
  failed(exchange: Exchange, target: EndpointAddress, retries: Retries, error: Error): void {
    const { response, route } = exchange;
    // The client went away (its response is destroyed with it), or was answered already. Not
    // `request.destroyed`: a request whose body has been read through is destroyed too, and its
    // client still waits for an answer.
    if (response.destroyed || response.writableEnded) return;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (CONNECTION_BROKEN.has(code) && retries.sameEndpoint) {
      return this.forward(exchange, target, { sameEndpoint: false, otherEndpoint: retries.otherEndpoint });
    }
    if (CONNECT_FAILURES.has(code) || CONNECTION_BROKEN.has(code)) this.options.health.eject(target.endpoint, describeFailure(error));
    if (retries.otherEndpoint) {
      const nextIndex = nextLiveEndpoint(route.endpoints, route.cursor, this.options.health.isDown, target.endpoint);
      if (nextIndex !== -1) {
        route.cursor = nextIndex + 1;
        return this.forward(exchange, route.targets[nextIndex]!, NO_RETRY);
      }
    }
    this.options.log.warn({ app: route.name, endpoint: target.endpoint, error: describeFailure(error) }, 'proxy: gear request failed');
    if (code === 'UND_ERR_HEADERS_TIMEOUT') plain(response, 504, `app ${route.name}: its gear did not answer within ${Math.round(this.options.idleTimeoutMs / 1000)} s`);
    else plain(response, 502, `app ${route.name}: its gear failed to answer (${describeFailure(error)})`);
  }
}

interface Exchange {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly route: IndexedRoute;
  readonly method: string;
  readonly headers: string[];
  readonly bodyless: boolean;
}

/** The relay of the attempt under way, found from the client response by listeners shared by all. */
const RELAY = Symbol('geartide.relay');
type RelayedResponse = ServerResponse & { [RELAY]?: ResponseRelay | undefined };

/**
 * Relays one gear response to the client as undici parses it, chunk by chunk, pausing the gear
 * connection while the client's socket is full (backpressure both ways: undici itself reads
 * the request body stream only as fast as the gear takes it). One per attempt; no closures of
 * its own (the client's 'close' and 'drain' listeners are shared functions).
 */
class ResponseRelay implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private started = false;
  private waitingForDrain = false;
  private readonly response: RelayedResponse;

  constructor(
    private readonly proxy: GearProxy,
    private readonly exchange: Exchange,
    private readonly target: EndpointAddress,
    private readonly retries: Retries,
  ) {
    this.response = exchange.response;
    this.response[RELAY] = this;
  }

  /** The client went away: a gear must not go on working for nobody. */
  clientClosed(): void {
    if (!this.response.writableFinished) this.controller?.abort(new Error('client went away'));
  }

  drained(): void {
    this.waitingForDrain = false;
    this.controller?.resume();
  }

  /** This attempt is over: the client's listeners no longer reach it. */
  detach(): void {
    if (this.response[RELAY] === this) this.response[RELAY] = undefined;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    // 1xx answers (100-continue is the server's business, 103 hints are optional) are not relayed.
    if (statusCode < 200) return;
    this.started = true;
    this.response.writeHead(statusCode, statusMessage, responseHeaderList(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.response.write(chunk) || this.waitingForDrain) return;
    this.waitingForDrain = true;
    controller.pause();
    this.response.once('drain', onClientDrain);
  }

  onResponseEnd(): void {
    this.detach();
    this.response.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.detach();
    // Bytes already went to the client: the only honest signal left is a cut connection.
    if (this.started || this.response.headersSent) this.response.destroy();
    else this.proxy.failed(this.exchange, this.target, this.retries, error);
  }
}

function onClientClose(this: RelayedResponse): void {
  this[RELAY]?.clientClosed();
}

function onClientDrain(this: RelayedResponse): void {
  this[RELAY]?.drained();
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

function describeFailure(error: Error): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection closed by the gear';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect timed out';
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'no response headers in time';
    default:
      return error.message;
  }
}
