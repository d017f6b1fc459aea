/**
 * The real broker (`startBroker`), listening on a real port over a fresh SQLite store, for the
 * CLI's integration tests: the `geartide` binary runs as a child process against it.
 *
 *   const broker = await startCliBroker();
 *   const alice = await broker.createUser('alice');
 *   const result = await runCli(['domain', 'create', 'demo'], broker.env(alice.token));
 *   await broker.close();
 *
 * Placement needs no node agent: nodes are registered through POST /nodes/register with the
 * bootstrap token, as an agent would, and gears land on active nodes of a district. What the CLI
 * sent is observed on the broker's own HTTP server (`requests`: method, path, query, headers —
 * bodies are checked through what the broker did with them). The clock is the real one: the
 * CLI prints ages ("5s ago") against its own clock.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Agent, request } from 'undici';

import { createUserWithToken } from '../../../src/broker/bootstrap-admin.ts';
import { loadBrokerConfig } from '../../../src/broker/broker-config.ts';
import { startBroker, type RunningBroker } from '../../../src/broker/broker.ts';
import { createTestStore, type TestStore } from '../../support/stores.ts';

export const BOOTSTRAP_TOKEN = 'cli-suite-bootstrap-0123456789';
/** App URLs read `http://<app>-<domain>.apps.test/`. */
export const CLOUD_DOMAIN = 'apps.test';

export interface ObservedRequest {
  readonly method: string;
  /** Relative to /api/v1, e.g. `/domains/demo/apps`. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
}

export interface CliBrokerUser {
  readonly login: string;
  readonly id: string;
  readonly token: string;
}

export interface CliBrokerNode {
  readonly name: string;
  readonly credential: string;
}

export interface CliBroker {
  /** Base URL (no /api/v1); the same across `restart()`. */
  readonly url: string;
  readonly admin: CliBrokerUser;
  /** Every request the broker received since start, restarts included. */
  readonly requests: ObservedRequest[];
  /** GEARTIDE_URL and GEARTIDE_TOKEN for a CLI run as the holder of `token`. */
  env(token: string): Record<string, string>;
  /** A REST call; `status` defaults to what success means for the method. Returns the JSON. */
  api(method: string, path: string, options?: { token?: string; body?: unknown; status?: number }): Promise<any>;
  /** A user made by the admin through POST /users. */
  createUser(login: string, options?: { maxGears?: number; role?: 'admin' | 'user' }): Promise<CliBrokerUser>;
  /** Registers a node as an agent would (bootstrap token); it is active at once. */
  registerNode(name: string, options?: { district?: string; maxActiveGears?: number; gearProfile?: string }): Promise<CliBrokerNode>;
  /** What an agent's heartbeat reports. */
  heartbeat(node: CliBrokerNode, facts: { maxActiveGears: number; gears: { started: number; idle: number; stopped: number; unknown: number } }): Promise<void>;
  /** What an agent reports of one of its gears. */
  reportGear(node: CliBrokerNode, gearId: string, observedState: string, endpoint: string | null): Promise<void>;
  /** One pass of the broker's mover (controllers are off here): true when it changed something. */
  passMover(): Promise<boolean>;
  /** Resolves when `count` event streams (GET /events?follow=true) have been opened in all. */
  streamOpened(count: number): Promise<ObservedRequest>;
  /** Stops the broker (open streams are cut) and starts a new one on the same port and store. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** `conf`: broker.conf keys for this broker (through its environment). */
export async function startCliBroker(options: { conf?: Record<string, string> } = {}): Promise<CliBroker> {
  const home = mkdtempSync(join(tmpdir(), 'geartide-cli-broker-'));
  let testStore: TestStore | undefined;
  let broker: RunningBroker | undefined;
  const requests: ObservedRequest[] = [];
  // The test's own keep-alive connections; replaced on restart, since the old broker's sockets
  // may still look open when the next call would reuse them.
  let connections = new Agent();
  const streamWaiters: { count: number; resolve: (request: ObservedRequest) => void }[] = [];

  const close = async () => {
    await connections.close();
    await broker?.close();
    broker = undefined;
    await testStore?.close();
    rmSync(home, { recursive: true, force: true });
  };

  const observe = (running: RunningBroker) => {
    // A listener of our own on the broker's node:http server sees each request as it arrives,
    // next to fastify's, without touching what fastify does with it.
    running.server.server.on('request', (request: IncomingMessage) => {
      const url = new URL(request.url ?? '/', 'http://broker');
      const observed = { method: request.method ?? 'GET', path: url.pathname.replace(/^\/api\/v1/, ''), query: url.searchParams, headers: request.headers };
      requests.push(observed);
      if (observed.path === '/events' && observed.query.get('follow') === 'true') {
        const streams = requests.filter((each) => each.path === '/events' && each.query.get('follow') === 'true').length;
        for (const waiter of streamWaiters.filter((each) => each.count === streams)) waiter.resolve(observed);
      }
    });
  };

  try {
    testStore = await createTestStore('sqlite');
    const store = testStore.store;
    const configFor = (port: string) =>
      loadBrokerConfig({
        env: { GEARTIDE_HOME: home, NODE_BOOTSTRAP_TOKEN: BOOTSTRAP_TOKEN, BROKER_PORT: port, BROKER_LOG_LEVEL: 'silent', CLOUD_DOMAIN, ...options.conf },
      });
    // The node health controller is off: no test here heartbeats on a schedule, and a node
    // marked lost halfway through a suite would change what the CLI prints.
    broker = await startBroker({ config: configFor('0'), store, listen: true, controllers: false });
    observe(broker);
    const url = broker.url;
    const port = new URL(url).port;
    const created = await createUserWithToken(store, { login: 'admin', role: 'admin', maxGears: 1000, now: Date.now() });
    const admin: CliBrokerUser = { login: 'admin', id: created.user.id, token: created.token };

    const api: CliBroker['api'] = async (method, path, options = {}) => {
      const response = await request(`${url}/api/v1${path}`, {
        method: method as 'GET',
        dispatcher: connections,
        headers: { authorization: `Bearer ${options.token ?? admin.token}`, ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      });
      const text = await response.body.text();
      const want = options.status ?? (method === 'DELETE' || method === 'PUT' ? 204 : method === 'POST' && /^\/(users|domains|districts|nodes\/register|domains\/[^/]+\/apps)$/.test(path) ? 201 : 200);
      assert.equal(response.statusCode, want, `${method} ${path} answered ${response.statusCode}: ${text}`);
      return text === '' ? undefined : JSON.parse(text);
    };

    return {
      url,
      admin,
      requests,
      env: (token) => ({ GEARTIDE_URL: url, GEARTIDE_TOKEN: token }),
      api,
      async createUser(login, options = {}) {
        const json = await api('POST', '/users', { body: { login, ...options } });
        return { login, id: json.user.id, token: json.token };
      },
      async registerNode(name, options = {}) {
        const json = await api('POST', '/nodes/register', {
          token: BOOTSTRAP_TOKEN,
          body: { name, gearProfile: options.gearProfile ?? 'small', maxActiveGears: options.maxActiveGears ?? 10, ...(options.district === undefined ? {} : { district: options.district }) },
        });
        return { name, credential: json.credential };
      },
      async heartbeat(node, facts) {
        await api('POST', `/nodes/${node.name}/heartbeat`, { token: node.credential, body: facts });
      },
      async reportGear(node, gearId, observedState, endpoint) {
        await api('PUT', `/nodes/${node.name}/gears/${gearId}`, { token: node.credential, body: { observedState, endpoint } });
      },
      passMover: () => broker!.mover.passOnce(),
      streamOpened(count) {
        const streams = requests.filter((each) => each.path === '/events' && each.query.get('follow') === 'true');
        if (streams.length >= count) return Promise.resolve(streams[count - 1]!);
        return new Promise((resolve) => streamWaiters.push({ count, resolve }));
      },
      async restart() {
        await broker!.close();
        broker = undefined;
        await connections.destroy();
        connections = new Agent();
        broker = await startBroker({ config: configFor(port), store, listen: true, controllers: false });
        observe(broker);
        assert.equal(broker.url, url, 'the restarted broker listens where the first one did');
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

