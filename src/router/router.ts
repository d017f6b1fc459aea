import { hostname } from 'node:os';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import pino, { type Logger } from 'pino';

import { ConfigError } from '../core/errors.ts';
import { BackendHealth } from './backend-health.ts';
import { BackendPools } from './backend-pools.ts';
import { BrokerRouteSource } from './broker-route-source.ts';
import { DEFAULT_PROBE_POLICY, type ProbePolicy } from './endpoint-health.ts';
import { GearProxy } from './gear-proxy.ts';
import { indexRoutes, listedEndpoints, type RouteIndex } from './route-index.ts';
import type { RouteSource, RouteTable } from './route-table.ts';

export const ROUTER_HEALTH_PATH = '/_geartide/health';

export interface RouterOptions {
  /** Where routes come from. Either this, or `broker`. */
  readonly source?: RouteSource;
  /** Follow this broker's route table (`GET /api/v1/routes`) with the router token. */
  /** How this router names itself to the broker (default: host:port/pid). */
  readonly name?: string;
  readonly broker?: { readonly url: string; readonly token: string; readonly waitSeconds?: number; readonly backoff?: { readonly initialMs: number; readonly maxMs: number } };
  /** Listen address; default 127.0.0.1. */
  readonly host?: string;
  /** Listen port; 0 (the default) picks a free one. */
  readonly port?: number;
  /** The cloud domain app hosts live under (`<app>-<domain>.<cloudDomain>`); default localhost. */
  readonly cloudDomain?: string;
  readonly log?: Logger;
  readonly probe?: ProbePolicy;
  /** Default 3 s. */
  readonly connectTimeoutMs?: number;
  /** Default 300 s, as OpenShift v2's node proxy: long enough for slow reports, short enough to free sockets. */
  readonly idleTimeoutMs?: number;
  /** Connections per gear endpoint; requests beyond wait for one. Default 256. */
  readonly maxSocketsPerEndpoint?: number;
}

export interface RunningRouter {
  /** e.g. http://127.0.0.1:7481 */
  readonly url: string;
  readonly port: number;
  /** The table in use (undefined before the first one arrived). */
  table(): RouteTable | undefined;
  close(): Promise<void>;
}

export function createRouterLogger(level = 'info'): Logger {
  // The router token travels only in the broker request's Authorization header; keep it out anyway.
  return pino({ name: 'router', level, redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' } });
}

/**
 * Starts the front-end router: an HTTP server that routes `<app>-<domain>.<cloud domain>` to the
 * app's started gears, following the route table of `options.source` (or the broker's).
 * Resolves once listening; does not wait for the first table (requests get 503 until it comes),
 * so a router started before its broker is up serves as soon as the broker answers.
 */
export async function startRouter(options: RouterOptions): Promise<RunningRouter> {
  const log = options.log ?? createRouterLogger();
  const cloudDomain = (options.cloudDomain ?? 'localhost').toLowerCase();
  // Checked now (a missing token fails before anything listens), made once the port is known:
  // the broker knows this router by host:port/pid.
  const makeSource = options.source !== undefined ? () => options.source! : brokerSource(options, cloudDomain, log);

  const idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
  const pools = new BackendPools({ connections: options.maxSocketsPerEndpoint ?? 256, connectTimeoutMs: options.connectTimeoutMs ?? 3_000, idleTimeoutMs });
  const health = new BackendHealth(log, options.probe ?? DEFAULT_PROBE_POLICY);
  let table: RouteTable | undefined;
  let routes: RouteIndex | undefined;
  let port = 0;

  const proxy = new GearProxy({
    pools,
    health,
    log,
    routes: () => routes,
    listenPort: () => port,
    idleTimeoutMs,
  });

  const server = createServer(
    {
      // Longer than the usual 60 s idle timeout of a load balancer in front, so it is the one closing.
      keepAliveTimeout: 65_000,
      // Uploads and downloads are streamed and may be long; idle sockets time out on their own.
      requestTimeout: 0,
    },
    (request: IncomingMessage, response: ServerResponse) => {
      const url = request.url;
      if (url !== undefined && url.charCodeAt(1) === 95 /* _ */ && url.split('?')[0] === ROUTER_HEALTH_PATH) return sendHealth(response);
      proxy.handle(request, response);
    },
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (socket.writable && error.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  function sendHealth(response: ServerResponse): void {
    const status = source.status();
    // pid: which process answered, when several router workers share the port.
    const body = JSON.stringify({ status: status.state, routes: table?.items.length ?? 0, version: table?.version ?? null, ...(status.lastError === undefined ? {} : { lastError: status.lastError }), ejectedEndpoints: health.ejected().size, pid: process.pid });
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    response.end(body);
  }

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const source = makeSource(port);

  source.start((next) => {
    table = next;
    routes = indexRoutes(next, routes);
    const listed = listedEndpoints(routes);
    health.retain(listed);
    pools.retain(listed);
    log.debug({ version: next.version, routes: next.items.length }, 'route table updated');
  });

  let closing: Promise<void> | undefined;
  return {
    url: routerUrl(host, port),
    port,
    table: () => table,
    close() {
      closing ??= (async () => {
        await source.stop();
        health.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await pools.close();
      })();
      return closing;
    },
  };
}

/** The URL a router listening on host:port answers at (IPv6 addresses in brackets). */
export function routerUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function brokerSource(options: RouterOptions, cloudDomain: string, log: Logger): (port: number) => RouteSource {
  if (options.broker === undefined) throw new ConfigError('the router needs a route source: a broker URL and router token', 'broker');
  if (options.broker.token === '') throw new ConfigError('the router token is empty (GEARTIDE_ROUTER_TOKEN or --token-file)', 'token');
  const { url, token, waitSeconds, backoff } = options.broker;
  return (port) => {
    // A name the broker can tell routers apart by (moves wait for every live router's table).
    const name = options.name ?? `${hostname()}:${port}/${process.pid}`;
    return new BrokerRouteSource({ brokerUrl: url, token, name, cloudDomain, log, ...(waitSeconds === undefined ? {} : { waitSeconds }), ...(backoff === undefined ? {} : { backoff }) });
  };
}
