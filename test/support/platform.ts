/**
 * A whole platform in-process, as `geartide up` assembles it, for tests and benchmarks that need
 * real processes end to end: a broker on a fresh SQLite store (real port, real clock, controllers
 * on), a router on its own port following the broker's route table, and node agents started by
 * the `LocalProvider` as real processes, each running its gears as real processes.
 *
 *   const p = await startPlatform({ nodes: 3 });
 *   const bob = await p.createUser('bob');
 *   await p.createDomain('demo', bob.token);
 *   await p.createApp('demo', 'hello', { gears: 4, token: bob.token });
 *   await p.waitForGearsStarted('demo', 'hello');
 *   const load = p.startLoad({ hosts: [p.appHost('hello', 'demo')], clients: 4 });
 *   …; const report = await load.stop();
 *   await p.close();
 *
 * Everything lives under one temporary GEARTIDE_HOME. `close()` stops the router, the agents and
 * the broker, then SIGKILLs any process left that carries that home (agents) or a GEAR_DIR under
 * it (gears), and removes the directory — whatever the test did or how it failed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import pino from 'pino';
import { create as createTar } from 'tar';
import { Pool, request } from 'undici';

import { createUserWithToken } from '../../src/broker/bootstrap-admin.ts';
import { loadBrokerConfig, type BrokerConfKey } from '../../src/broker/broker-config.ts';
import { startBroker, type RunningBroker } from '../../src/broker/broker.ts';
import { findProcessesWithEnv } from '../../src/node/process-identity.ts';
import { LocalProvider } from '../../src/providers/local/local-provider.ts';
import { startRouter, type RunningRouter } from '../../src/router/router.ts';

const BOOTSTRAP_TOKEN = 'platform-bootstrap-token-0123456789';
const ROUTER_TOKEN = 'platform-router-token-0123456789ab';
export const PLATFORM_DISTRICT = 'default';

/**
 * broker.conf for an autoscaled pool that moves in seconds, for end-to-end tests: 4 active gears a
 * host, a pass a second, scale up at 90 %, nodes removed after 3 s of under-use, no cooldowns.
 */
export const FAST_AUTOSCALE_ENV = {
  AUTOSCALE_INTERVAL: '1',
  AUTOSCALE_MIN_NODES: '1',
  AUTOSCALE_MAX_NODES: '5',
  AUTOSCALE_NODE_MAX_ACTIVE_GEARS: '4',
  SCALE_UP_THRESHOLD: '90',
  SCALE_DOWN_MARGIN: '10',
  SCALE_DOWN_UNNEEDED_TIME: '3',
  SCALE_UP_COOLDOWN: '0',
  SCALE_DOWN_COOLDOWN: '0',
  SCALE_DOWN_DELAY_AFTER_ADD: '2',
} as const satisfies Partial<Record<BrokerConfKey, string>>;

export interface PlatformOptions {
  /** Node agents started at once (`local-node-1…`); more with `addNodes`. Default 3. */
  readonly nodes?: number;
  /** Each agent's --max-active-gears. Default 50. */
  readonly maxActiveGears?: number;
  /** broker.conf keys, through the broker's environment. */
  readonly brokerEnv?: Partial<Record<BrokerConfKey, string>>;
  /** Broker and router log level (default silent; agents always log to their agent.log). */
  readonly logLevel?: string;
  /**
   * The broker's autoscaler runs with the local provider (AUTOSCALE_PROVIDER=local): it starts
   * the agents itself (the pool's min first), and `provider` is its provider. `nodes` is ignored.
   */
  readonly autoscale?: boolean;
}

export interface PlatformUser {
  readonly login: string;
  readonly token: string;
}

export interface GearView {
  readonly id: string;
  readonly uid: number;
  readonly node: string;
  readonly desiredState: string;
  readonly observedState: string;
  readonly endpoint: string | null;
}

export interface AppView {
  readonly id: string;
  readonly name: string;
  readonly domain: string;
  readonly gears: GearView[];
  readonly [key: string]: unknown;
}

export interface LoadOptions {
  /** Host headers to request, in turn (`<app>-<domain>.localhost`). */
  readonly hosts: readonly string[];
  /** Concurrent clients. */
  readonly clients: number;
  /** Path requested (default `/`), or per host. */
  readonly path?: string | ((host: string) => string);
  /** Pause of each client between its requests (default 5 ms). */
  readonly gapMs?: number;
  /** The loop ends by itself after this long, whatever happens (default 120 s): a bound, not the plan. */
  readonly maxDurationMs?: number;
  /** Per request: headers and body must arrive within this (default 10 s); later counts as a failure. */
  readonly timeoutMs?: number;
}

export interface LoadFailure {
  readonly host: string;
  readonly at: number;
  /** The status when there was an answer, else the error code/message. */
  readonly what: string;
}

export interface LoadReport {
  readonly requests: number;
  readonly failures: number;
  readonly durationMs: number;
  /** The slowest request (a paused gear holds its requests until it resumes). */
  readonly maxLatencyMs: number;
  /** Requests per host. */
  readonly perHost: Record<string, number>;
  /** The first failures, for the assertion message. */
  readonly failureSamples: LoadFailure[];
  /** Every 2xx body, per host, in order of arrival (apps that say who served them). */
  readonly bodies: Record<string, string[]>;
}

export interface RunningLoad {
  /** Stops the clients after their current request and reports. */
  stop(): Promise<LoadReport>;
}

export interface Platform {
  readonly home: string;
  readonly brokerUrl: string;
  readonly routerUrl: string;
  readonly broker: RunningBroker;
  readonly router: RunningRouter;
  readonly provider: LocalProvider;
  readonly adminToken: string;
  /** A REST call (`path` under /api/v1); asserts `status` (default: any 2xx); returns the JSON (undefined when empty). */
  api(method: string, path: string, options?: { body?: unknown; token?: string; status?: number }): Promise<any>;
  createUser(login: string, options?: { maxGears?: number }): Promise<PlatformUser>;
  createDomain(name: string, token: string): Promise<void>;
  /** Packs `files` (path → content) as a tar.gz, uploads it with POST /sources, returns the source id. */
  uploadSource(files: Record<string, string>, token: string): Promise<string>;
  createApp(domain: string, name: string, options: { gears: number; cartridge?: string; source?: string; token: string }): Promise<AppView>;
  app(domain: string, name: string): Promise<AppView>;
  /** Waits until every gear of the app (or `count` of them) is started with an endpoint. */
  waitForGearsStarted(domain: string, name: string, options?: { count?: number; timeoutMs?: number }): Promise<AppView>;
  /** `<app>-<domain>.localhost`: the Host the router serves the app at. */
  appHost(name: string, domain: string): string;
  /** One request through the router with `host` as the Host header. */
  viaRouter(host: string, path?: string): Promise<{ status: number; text: string }>;
  /** Waits until the router answers 200 for `host`. */
  waitForRoute(host: string, timeoutMs?: number): Promise<void>;
  startLoad(options: LoadOptions): RunningLoad;
  /** Starts `count` more agents and waits until they are registered and active. */
  addNodes(count: number): Promise<string[]>;
  nodeNames(): Promise<string[]>;
  /** The agent's state directory, `<home>/nodes/<name>`. */
  nodeDir(name: string): string;
  /** Ids of the gear directories on a node (what the agent holds on disk). */
  gearDirsOn(name: string): string[];
  /** Every live gear process of this platform: gear id → [{pid, node}] (from /proc, GEAR_DIR). */
  gearProcesses(): Map<string, { pid: number; node: string }[]>;
  /** Events of `kind` (a prefix filter, as the API's), oldest first. */
  events(kind?: string): Promise<{ kind: string; subject: string; message: string; data: Record<string, unknown> }[]>;
  /** POST …/drain, then polls GET …/drain every `pollMs` until it is no longer running; returns the final Drain. */
  drain(node: string, body?: { parallel?: number; deadlineSeconds?: number }, options?: { pollMs?: number; timeoutMs?: number; onPoll?: (drain: any) => void }): Promise<any>;
  close(): Promise<void>;
}

export async function eventually<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(intervalMs);
  }
}

export async function startPlatform(options: PlatformOptions = {}): Promise<Platform> {
  const home = mkdtempSync(join(tmpdir(), 'geartide-platform-'));
  const logLevel = options.logLevel ?? process.env.GEARTIDE_TEST_LOG ?? 'silent';
  let broker: RunningBroker | undefined;
  let router: RunningRouter | undefined;
  let provider: LocalProvider | undefined;
  let routerPool: Pool | undefined;
  const loads = new Set<RunningLoad>();
  let closed = false;

  const close = async () => {
    if (closed) return;
    closed = true;
    // Each step on its own: one that fails must not leave the others' processes behind.
    const steps: (() => Promise<unknown>)[] = [
      async () => Promise.allSettled([...loads].map((load) => load.stop())),
      async () => routerPool?.close(),
      async () => router?.close(),
      async () => provider?.close(),
      async () => broker?.close(),
    ];
    for (const step of steps) await step().catch(() => undefined);
    killLeftovers(home);
    rmSync(home, { recursive: true, force: true });
  };

  try {
    const config = loadBrokerConfig({
      env: {
        GEARTIDE_HOME: home,
        BROKER_PORT: '0',
        NODE_BOOTSTRAP_TOKEN: BOOTSTRAP_TOKEN,
        ROUTER_TOKEN,
        BROKER_LOG_LEVEL: logLevel,
        ...(options.autoscale ? { AUTOSCALE_PROVIDER: 'local' } : {}),
        ...options.brokerEnv,
      },
    });
    broker = await startBroker({
      config,
      listen: true,
      controllers: true,
      // The agents carry the home in their environment, so close() finds any that outlive a stop.
      agentEnv: { GEARTIDE_HOME: home },
      // Before the autoscaler's first pass, so its first scale-up has a district to join.
      prepare: async (context) => void (await context.districts.create({ name: PLATFORM_DISTRICT })),
    });
    const { store } = broker.context;
    const { token: adminToken } = await createUserWithToken(store, { login: 'admin', role: 'admin', maxGears: 100_000, now: Date.now() });

    router = await startRouter({ broker: { url: broker.url, token: ROUTER_TOKEN }, port: 0, name: 'platform-router', log: pino({ level: logLevel }) });
    routerPool = new Pool(router.url, { connections: 64, pipelining: 1 });
    provider = options.autoscale
      ? (broker.providers.get(config.autoscale.pools[0]!.name) as LocalProvider)
      : new LocalProvider({
      home,
      brokerUrl: broker.url,
      bootstrapToken: BOOTSTRAP_TOKEN,
      gearProfile: config.defaultGearSize,
      maxActiveGears: options.maxActiveGears ?? 50,
      // The agents carry the home in their environment, so close() finds any that outlive a stop.
      agentEnv: { GEARTIDE_HOME: home },
    });

    const brokerUrl = broker.url;
    const api = async (method: string, path: string, callOptions: { body?: unknown; token?: string; status?: number } = {}) => {
      const response = await request(`${brokerUrl}/api/v1${path}`, {
        method: method as 'GET',
        headers: { authorization: `Bearer ${callOptions.token ?? adminToken}`, ...(callOptions.body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(callOptions.body === undefined ? {} : { body: JSON.stringify(callOptions.body) }),
      });
      const text = await response.body.text();
      if (callOptions.status !== undefined) assert.equal(response.statusCode, callOptions.status, `${method} ${path} answered ${response.statusCode}: ${text}`);
      else assert.ok(response.statusCode >= 200 && response.statusCode < 300, `${method} ${path} answered ${response.statusCode}: ${text}`);
      return text === '' ? undefined : JSON.parse(text);
    };

    const addNodes = async (count: number): Promise<string[]> => {
      const created = await provider!.increaseSize({ count, scaleEventId: `platform-${Date.now()}-${Math.random().toString(36).slice(2)}`, district: PLATFORM_DISTRICT });
      const names = created.map((node) => node.name);
      await eventually(`node agents ${names.join(', ')} registered`, async () => {
        for (const name of names) if ((await store.getNodeByName(name))?.state !== 'active') return false;
        return true;
      }, 30_000);
      return names;
    };

    const app = async (domain: string, name: string): Promise<AppView> => api('GET', `/domains/${domain}/apps/${name}`);
    const viaRouter = async (host: string, path = '/') => {
      const response = await routerPool!.request({ method: 'GET', path, headers: { host }, headersTimeout: 10_000, bodyTimeout: 10_000 });
      return { status: response.statusCode, text: await response.body.text() };
    };

    const platform: Platform = {
      home,
      brokerUrl,
      routerUrl: router.url,
      broker,
      router,
      provider,
      adminToken,
      api,
      async createUser(login, userOptions = {}) {
        const created = await api('POST', '/users', { body: { login, maxGears: userOptions.maxGears ?? 1000 }, status: 201 });
        return { login, token: created.token };
      },
      async createDomain(name, token) {
        await api('POST', '/domains', { body: { name }, token, status: 201 });
      },
      async uploadSource(files, token) {
        const archive = await tarball(files);
        const response = await request(`${brokerUrl}/api/v1/sources`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/gzip' }, body: archive });
        const text = await response.body.text();
        assert.equal(response.statusCode, 201, `POST /sources answered ${response.statusCode}: ${text}`);
        return JSON.parse(text).id;
      },
      async createApp(domain, name, appOptions) {
        return api('POST', `/domains/${domain}/apps`, {
          body: { name, cartridge: appOptions.cartridge ?? 'nodejs', gears: appOptions.gears, ...(appOptions.source ? { source: appOptions.source } : {}) },
          token: appOptions.token,
          status: 201,
        });
      },
      app,
      async waitForGearsStarted(domain, name, waitOptions = {}) {
        return eventually(`gears of ${name}-${domain} started`, async () => {
          const view = await app(domain, name);
          const started = view.gears.filter((gear) => gear.observedState === 'started' && gear.endpoint !== null).length;
          return started === (waitOptions.count ?? view.gears.length) ? view : undefined;
        }, waitOptions.timeoutMs ?? 60_000, 200);
      },
      appHost: (name, domain) => `${name}-${domain}.localhost`,
      viaRouter,
      async waitForRoute(host, timeoutMs = 30_000) {
        await eventually(`the router to serve ${host}`, async () => (await viaRouter(host)).status === 200, timeoutMs);
      },
      startLoad(loadOptions) {
        const load = startLoad(routerPool!, loadOptions);
        const tracked: RunningLoad = {
          stop: async () => {
            loads.delete(tracked);
            return load.stop();
          },
        };
        loads.add(tracked);
        return tracked;
      },
      addNodes,
      async nodeNames() {
        return (await provider!.nodes()).map((node) => node.name);
      },
      nodeDir: (name) => join(home, 'nodes', name),
      gearDirsOn(name) {
        const dir = join(home, 'nodes', name, 'gears');
        return existsSync(dir) ? readdirSync(dir).sort() : [];
      },
      gearProcesses: () => gearProcessesUnder(join(home, 'nodes')),
      async events(kind) {
        const items: { id: number; kind: string; subject: string; message: string; data: Record<string, unknown> }[] = [];
        let after = 0;
        for (;;) {
          const page = await api('GET', `/events?limit=1000&after=${after}${kind ? `&kind=${kind}` : ''}`);
          items.push(...page.items);
          if (page.items.length < 1000) return items;
          after = page.items[page.items.length - 1].id;
        }
      },
      async drain(node, body = {}, drainOptions = {}) {
        const started = await api('POST', `/nodes/${node}/drain`, { body, status: 202 });
        drainOptions.onPoll?.(started);
        return eventually(`the drain of ${node} to end`, async () => {
          const drain = await api('GET', `/nodes/${node}/drain`);
          drainOptions.onPoll?.(drain);
          return drain.status === 'running' ? undefined : drain;
        }, drainOptions.timeoutMs ?? 120_000, drainOptions.pollMs ?? 250);
      },
      close,
    };
    if (!options.autoscale && (options.nodes ?? 3) > 0) await addNodes(options.nodes ?? 3);
    return platform;
  } catch (error) {
    await close();
    throw error;
  }
}

/** Gear processes whose GEAR_DIR is `<nodesDir>/<node>/gears/<id>`: gear id → [{pid, node}]. */
export function gearProcessesUnder(nodesDir: string): Map<string, { pid: number; node: string }[]> {
  const found = new Map<string, { pid: number; node: string }[]>();
  const prefix = `GEAR_DIR=${nodesDir}/`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string;
    let state: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      continue;
    }
    if (state === 'Z' || state === 'X') continue;
    const variable = environ.split('\0').find((each) => each.startsWith(prefix));
    if (!variable) continue;
    const [node, gears, id] = variable.slice(prefix.length).split('/');
    if (gears !== 'gears' || !node || !id) continue;
    found.set(id, [...(found.get(id) ?? []), { pid: Number(entry), node }]);
  }
  return found;
}

/** SIGKILLs every agent (GEARTIDE_HOME=home) and gear (GEAR_DIR under home) still alive. */
function killLeftovers(home: string): void {
  const pids = new Set([...findProcessesWithEnv('GEARTIDE_HOME', home), ...[...gearProcessesUnder(join(home, 'nodes')).values()].flat().map((each) => each.pid)]);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

async function tarball(files: Record<string, string>): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'geartide-platform-src-'));
  try {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of createTar({ gzip: true, cwd: dir, portable: true }, Object.keys(files))) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * N clients, each requesting the hosts in turn through the router until stopped (or the bound
 * passes). Any answer outside 2xx, a connection error or a timeout counts as a failure.
 */
function startLoad(pool: Pool, options: LoadOptions): RunningLoad {
  const started = Date.now();
  const maxDurationMs = options.maxDurationMs ?? 120_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const gapMs = options.gapMs ?? 5;
  const pathFor = typeof options.path === 'function' ? options.path : () => (options.path as string | undefined) ?? '/';
  let stopping = false;
  let requests = 0;
  const failures: LoadFailure[] = [];
  const perHost: Record<string, number> = {};
  const bodies: Record<string, string[]> = {};
  for (const host of options.hosts) {
    perHost[host] = 0;
    bodies[host] = [];
  }
  let turn = 0;
  let maxLatencyMs = 0;

  const client = async () => {
    while (!stopping && Date.now() - started < maxDurationMs) {
      const host = options.hosts[turn++ % options.hosts.length]!;
      requests++;
      perHost[host]!++;
      const sent = Date.now();
      try {
        const response = await pool.request({ method: 'GET', path: pathFor(host), headers: { host }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
        const text = await response.body.text();
        maxLatencyMs = Math.max(maxLatencyMs, Date.now() - sent);
        if (response.statusCode >= 200 && response.statusCode < 300) bodies[host]!.push(text);
        else failures.push({ host, at: Date.now() - started, what: `${response.statusCode} ${text.slice(0, 200)}` });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        failures.push({ host, at: Date.now() - started, what: `${code ?? ''} ${(error as Error).message}`.trim() });
      }
      if (gapMs > 0) await sleep(gapMs);
    }
  };
  const running = Promise.all(Array.from({ length: options.clients }, client));
  let report: Promise<LoadReport> | undefined;
  return {
    stop() {
      report ??= (async () => {
        stopping = true;
        await running;
        return { requests, failures: failures.length, durationMs: Date.now() - started, maxLatencyMs, perHost, failureSamples: failures.slice(0, 10), bodies };
      })();
      return report;
    },
  };
}
