/**
 * A broker on a fresh store, in-process, for REST API tests: the fastify app is called through
 * `inject` (no socket) unless `listen: true` asks for a real port (SSE tests).
 *
 *   const h = await startBrokerHarness('sqlite');
 *   const bob = await h.createUser('bob');
 *   const { status, json } = await h.call('POST', '/domains', { token: bob.token, body: { name: 'bobs' } });
 *   await h.close();
 *
 * The clock is the harness's own (`h.now`, `h.advance(ms)`), shared by the broker and anything
 * the test builds over the same store, so token expiry and lost nodes need no sleeping.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

import type { Logger } from 'pino';

import { createUserWithToken } from '../../src/broker/bootstrap-admin.ts';
import { loadBrokerConfig, type BrokerConfig, type BrokerConfKey } from '../../src/broker/broker-config.ts';
import { API_PREFIX, startBroker, type RunningBroker } from '../../src/broker/broker.ts';
import type { Store, StoreDialect } from '../../src/store/store.ts';
import type { Provider } from '../../src/providers/provider.ts';
import { createTestStore, type TestStore } from './stores.ts';

export const BOOTSTRAP_TOKEN = 'bootstrap-secret-0123456789';
/** Well past any real clock, so a test's times never collide with "now" by accident. */
export const HARNESS_EPOCH = Date.UTC(2031, 0, 1);

export interface CallOptions {
  readonly token?: string;
  /** A JSON value to send (serialised); `undefined`: no body. */
  readonly body?: unknown;
  /** Raw payload sent as-is (invalid JSON, oversized bodies, archives); wins over `body`. */
  readonly rawBody?: string | Buffer;
  readonly headers?: Record<string, string>;
}

export interface CallResult {
  readonly status: number;
  /** The parsed JSON body, or undefined when the body is empty or not JSON. */
  readonly json: any;
  readonly text: string;
  /** The body as bytes (archives). */
  readonly bytes: Buffer;
  readonly headers: Record<string, unknown>;
}

export interface HarnessUser {
  readonly login: string;
  readonly id: string;
  readonly token: string;
}

export interface HarnessNode {
  readonly name: string;
  readonly id: string;
  readonly credential: string;
}

export interface HarnessOptions {
  /** broker.conf keys set through the environment. */
  readonly env?: Partial<Record<BrokerConfKey, string>>;
  readonly log?: Logger;
  readonly listen?: boolean;
  readonly controllers?: boolean;
  /** Providers for the broker's pools, instead of AUTOSCALE_PROVIDER's. */
  readonly providers?: ReadonlyMap<string, Provider>;
}

export interface BrokerHarness {
  readonly dialect: StoreDialect;
  readonly store: Store;
  readonly broker: RunningBroker;
  readonly config: BrokerConfig;
  readonly admin: HarnessUser;
  readonly clock: () => number;
  now(): number;
  advance(ms: number): void;
  /** `url` is relative to /api/v1 (`/domains`), or absolute from the root when it starts with `/api/`. */
  call(method: string, url: string, options?: CallOptions): Promise<CallResult>;
  /** `call` that must answer `status` (default 200); returns the JSON. */
  ok(method: string, url: string, options: CallOptions & { status?: number }): Promise<any>;
  /** A user created through POST /users by the admin. */
  createUser(login: string, options?: { maxGears?: number; role?: 'admin' | 'user' }): Promise<HarnessUser>;
  createDomain(user: HarnessUser, name: string): Promise<void>;
  createDistrict(name: string, options?: { gearProfile?: string; firstUid?: number; maxCapacity?: number }): Promise<any>;
  /** Registers `count` nodes (`<prefix>1…`) with the bootstrap token, in `district` when given. */
  registerNodes(count: number, options?: { district?: string; prefix?: string; gearProfile?: string; maxActiveGears?: number; withEndpoint?: boolean }): Promise<HarnessNode[]>;
  close(): Promise<void>;
}

export async function startBrokerHarness(dialect: StoreDialect, options: HarnessOptions = {}): Promise<BrokerHarness> {
  const home = mkdtempSync(join(tmpdir(), 'geartide-api-'));
  let testStore: TestStore | undefined;
  let broker: RunningBroker | undefined;
  try {
    testStore = await createTestStore(dialect);
    const config = loadBrokerConfig({
      env: {
        GEARTIDE_HOME: home,
        NODE_BOOTSTRAP_TOKEN: BOOTSTRAP_TOKEN,
        BROKER_LOG_LEVEL: 'silent',
        ...(options.listen ? { BROKER_PORT: '0' } : {}),
        ...options.env,
      },
    });
    let now = HARNESS_EPOCH;
    const clock = () => now;
    const store = testStore.store;
    broker = await startBroker({
      config,
      store,
      clock,
      controllers: options.controllers ?? false,
      ...(options.providers ? { providers: options.providers } : {}),
      listen: options.listen ?? false,
      ...(options.log ? { log: options.log } : {}),
    });
    const { token: adminToken, user: adminUser } = await createUserWithToken(store, { login: 'admin', role: 'admin', maxGears: 1000, now });
    const admin: HarnessUser = { login: 'admin', id: adminUser.id, token: adminToken };
    const server = broker.server;
    let nodeCount = 0;

    const call = async (method: string, url: string, callOptions: CallOptions = {}): Promise<CallResult> => {
      const headers: Record<string, string> = { ...callOptions.headers };
      if (callOptions.token !== undefined) headers.authorization = `Bearer ${callOptions.token}`;
      let payload: string | Buffer | undefined;
      if (callOptions.rawBody !== undefined) payload = callOptions.rawBody;
      else if (callOptions.body !== undefined) payload = JSON.stringify(callOptions.body);
      if (payload !== undefined && !Object.keys(headers).some((key) => key.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      const response = await server.inject({
        method: method as 'GET',
        url: url.startsWith('/api/') ? url : `${API_PREFIX}${url}`,
        headers,
        ...(payload !== undefined ? { payload } : {}),
      });
      let json: unknown;
      try {
        json = response.body === '' ? undefined : JSON.parse(response.body);
      } catch {
        json = undefined;
      }
      return { status: response.statusCode, json, text: response.body, bytes: response.rawPayload, headers: response.headers };
    };

    const ok = async (method: string, url: string, callOptions: CallOptions & { status?: number }) => {
      const result = await call(method, url, callOptions);
      const want = callOptions.status ?? 200;
      assert.equal(result.status, want, `${method} ${url} answered ${result.status}: ${result.text}`);
      return result.json;
    };

    const harness: BrokerHarness = {
      dialect,
      store,
      broker,
      config,
      admin,
      clock,
      now: () => now,
      advance(ms) {
        now += ms;
      },
      call,
      ok,
      async createUser(login, userOptions = {}) {
        const json = await ok('POST', '/users', { token: adminToken, body: { login, ...userOptions }, status: 201 });
        return { login, id: json.user.id, token: json.token };
      },
      async createDomain(user, name) {
        await ok('POST', '/domains', { token: user.token, body: { name }, status: 201 });
      },
      async createDistrict(name, districtOptions = {}) {
        return ok('POST', '/districts', { token: adminToken, body: { name, ...districtOptions }, status: 201 });
      },
      async registerNodes(count, nodeOptions = {}) {
        const nodes: HarnessNode[] = [];
        for (let index = 0; index < count; index++) {
          const name = `${nodeOptions.prefix ?? 'node'}${++nodeCount}`;
          const json = await ok('POST', '/nodes/register', {
            token: BOOTSTRAP_TOKEN,
            body: {
              name,
              gearProfile: nodeOptions.gearProfile ?? 'small',
              maxActiveGears: nodeOptions.maxActiveGears ?? 10,
              ...(nodeOptions.district !== undefined ? { district: nodeOptions.district } : {}),
              // An agent URL nothing listens on: enough for tests that only read it back.
              ...(nodeOptions.withEndpoint ? { endpoint: `http://127.0.0.1:9/${name}` } : {}),
            },
            status: 201,
          });
          nodes.push({ name, id: json.node.id, credential: json.credential });
        }
        return nodes;
      },
      async close() {
        await broker?.close();
        await testStore?.close();
        rmSync(home, { recursive: true, force: true });
      },
    };
    return harness;
  } catch (error) {
    await broker?.close();
    await testStore?.close();
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
}

/** Runs `fn` with a fresh harness and closes it afterwards, whatever `fn` does. */
export async function withBroker<T>(dialect: StoreDialect, fn: (harness: BrokerHarness) => Promise<T>, options?: HarnessOptions): Promise<T> {
  const harness = await startBrokerHarness(dialect, options);
  try {
    return await fn(harness);
  } finally {
    await harness.close();
  }
}

/** Asserts the API's error shape: exactly `{error:{code,message,field?}}`, with the given status, code and field. */
export function assertApiError(result: CallResult, want: { status: number; code?: string; field?: string }, label = ''): void {
  const where = `${label ? `${label}: ` : ''}${result.status} ${result.text}`;
  assert.equal(result.status, want.status, where);
  assert.ok(result.json && typeof result.json === 'object', `error body is JSON: ${where}`);
  assert.deepEqual(Object.keys(result.json), ['error'], `only an error key: ${where}`);
  const error = result.json.error;
  assert.equal(typeof error.code, 'string', where);
  assert.equal(typeof error.message, 'string', where);
  assert.ok(error.message.length > 0, where);
  for (const key of Object.keys(error)) assert.ok(['code', 'message', 'field'].includes(key), `unexpected error key ${key}: ${where}`);
  if (want.code !== undefined) assert.equal(error.code, want.code, where);
  if (want.field !== undefined) assert.equal(error.field, want.field, where);
}

/**
 * Everything an API request could change, read from the store directly (no API, no auth), as
 * one comparable string: a refused request must leave it exactly as it was.
 */
export async function storeState(store: Store): Promise<string> {
  const users = await store.listUsers();
  return JSON.stringify({
    users,
    tokens: await Promise.all(users.map((user) => store.listTokens(user.id))),
    domains: await store.listDomains(),
    apps: await store.listApps(),
    gears: await store.listGears(),
    districts: await store.listDistricts(),
    nodes: await store.listNodes(),
    events: (await store.listEvents({ limit: 100_000 })).length,
  });
}

/** A seeded PRNG, so a fuzz failure can be replayed. */
export { seededRandom } from '../../src/core/seeded-random.ts';
