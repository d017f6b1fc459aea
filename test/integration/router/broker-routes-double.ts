/**
 * TEST DOUBLE of the broker's route-table contract, NOT the broker: a tiny real node:http server
 * serving `GET /api/v1/routes?since=&wait=` from memory, as the broker is to (200 with the table
 * when its version differs from `since`, at once without `since`; 304 after `wait` seconds
 * unchanged; 401 without the router token). It lets the router's BrokerRouteSource be tested
 * over real HTTP before the broker's endpoint lands; once it does, these tests move to the
 * real broker.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { RouteEntry } from '../../../src/router/route-table.ts';

export const ROUTER_TOKEN = 'gt_router_test_0123456789abcdef';

export interface BrokerRoutesDouble {
  readonly url: string;
  readonly port: number;
  /** Every request: the query and whether it carried the router token. */
  readonly requests: { since: string | null; wait: string | null; authorized: boolean }[];
  /** Replace the table; waiting long-polls answer at once. */
  setItems(items: RouteEntry[]): void;
  /** Answer every request with this status (e.g. 500) until set back to undefined. */
  failWith: number | undefined;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

export async function startBrokerRoutesDouble(items: RouteEntry[] = []): Promise<BrokerRoutesDouble> {
  let version = 1;
  let current = items;
  const waiting = new Set<() => void>();
  const send = (response: ServerResponse) => {
    const body = JSON.stringify({ version: String(version), items: current });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(body);
  };
  const build = () =>
    createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://double');
      const authorized = request.headers.authorization === `Bearer ${ROUTER_TOKEN}`;
      double.requests.push({ since: url.searchParams.get('since'), wait: url.searchParams.get('wait'), authorized });
      if (double.failWith !== undefined) {
        response.writeHead(double.failWith, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { code: 'internal', message: 'the double was told to fail' } }));
        return;
      }
      if (url.pathname !== '/api/v1/routes') {
        response.writeHead(404).end();
        return;
      }
      if (!authorized) {
        response.writeHead(401, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { code: 'unauthenticated', message: 'a valid bearer token is required' } }));
        return;
      }
      const since = url.searchParams.get('since');
      if (since === null || since !== String(version)) return send(response);
      const wait = Math.min(60, Number(url.searchParams.get('wait') ?? '30')) * 1000;
      const wake = () => {
        clearTimeout(timer);
        waiting.delete(wake);
        if (!response.writableEnded) send(response);
      };
      const timer = setTimeout(() => {
        waiting.delete(wake);
        response.writeHead(304).end();
      }, wait);
      waiting.add(wake);
      response.on('close', () => {
        clearTimeout(timer);
        waiting.delete(wake);
      });
    });
  let server = build();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const double: BrokerRoutesDouble = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests: [],
    failWith: undefined,
    setItems(next) {
      current = next;
      version++;
      for (const wake of [...waiting]) wake();
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    async restart() {
      server = build();
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
  };
  return double;
}
