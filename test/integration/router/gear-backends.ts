/**
 * Real HTTP servers standing in for gears: each answers with its own name, and a few paths
 * serve the router tests (headers echo, streaming in both directions). Listens on an ephemeral
 * port; `stop()` closes it (connections too) and `restart()` listens again on the same port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { request } from 'undici';

export interface GearBackend {
  readonly name: string;
  readonly port: number;
  readonly endpoint: string;
  /** Requests answered since start. */
  hits: number;
  /** Resolvers the streaming tests use to release a held request or response. */
  readonly gates: Map<string, () => void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

export async function startGearBackend(name: string, handler?: (request: IncomingMessage, response: ServerResponse, backend: GearBackend) => boolean): Promise<GearBackend> {
  let server: Server;
  const backend: GearBackend = {
    name,
    port: 0,
    endpoint: '',
    hits: 0,
    gates: new Map(),
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    async restart() {
      server = build();
      await listen(server, backend.port);
    },
  };
  const build = () =>
    createServer((request, response) => {
      backend.hits++;
      if (handler?.(request, response, backend)) return;
      if (request.url === '/headers') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ name, headers: request.headers, rawHeaders: request.rawHeaders }));
        return;
      }
      // Drain any body, then answer with the name: what the spread tests count.
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'text/plain', 'x-gear': name });
        response.end(name);
      });
    });
  server = build();
  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;
  Object.assign(backend, { port, endpoint: `127.0.0.1:${port}` });
  return backend;
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/** A GET through the router with a given Host (undici keeps a custom Host; global fetch does not). */
export async function get(routerUrl: string, host: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const response = await request(`${routerUrl}${path}`, { headers: { host, ...headers } });
  return { status: response.statusCode, body: await response.body.text(), headers: response.headers };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
