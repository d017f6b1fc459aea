/**
 * A whole platform of real processes for the kill tests (issue 4): the broker
 * (`geartide broker --config`, restartable with a failpoint on the same store and port), node
 * agents (`geartide node`, each on a fixed port and state directory so a restarted agent is the
 * same node at the same URL) and a router (`geartide router`). Everything lives in one temporary
 * GEARTIDE_HOME; `close()` kills whatever carries it (and every gear under it) and removes it.
 *
 *   const p = await startKillPlatform({ NODE_LOST_AFTER: '10' });
 *   await p.startAgent('node-a'); await p.startAgent('node-b'); await p.startRouter();
 *   const gear = await p.createStartedGear('web');
 *   await p.restartBroker('move:copying');
 *   ...
 *   await p.close();
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { findProcessesWithEnv } from '../../../src/node/process-identity.ts';
import { openStore } from '../../../src/store/open-store.ts';
import type { Operation } from '../../../src/core/model.ts';
import {
  GEARTIDE_BIN,
  createBrokerUser,
  freePort,
  killProcessesUnder,
  processEnv,
  startBrokerProcess,
  writeBrokerConf,
  type BrokerProcess,
  type ProcessExit,
} from '../../support/broker-process.ts';

const BOOTSTRAP_TOKEN = 'kill-suite-bootstrap-0123456789';
const ROUTER_TOKEN = 'kill-suite-router-token-0123456789';
export const DISTRICT = 'east';
export const DOMAIN = 'kills';

export interface AgentProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  readonly stateDir: string;
  output(): string;
  readonly exited: Promise<ProcessExit>;
}

export interface ApiOptions {
  readonly body?: unknown;
  /** Default: the user's (bob's) token. */
  readonly token?: string;
  /** The status to insist on; default 200 (201 for creations). */
  readonly status?: number;
}

export interface GearView {
  readonly id: string;
  readonly node: string;
  readonly observedState: string;
  readonly endpoint: string | null;
}

export interface KillPlatform {
  readonly home: string;
  readonly adminToken: string;
  readonly userToken: string;
  /** The broker running now (replaced by each restart). */
  readonly broker: BrokerProcess;
  readonly brokerUrl: string;
  readonly routerUrl: string;
  /** Stops the running broker (SIGTERM) unless it is already gone, and starts one with `failpoint` (or none). */
  restartBroker(failpoint?: string): Promise<BrokerProcess>;
  api(method: string, path: string, options?: ApiOptions): Promise<any>;
  startAgent(name: string): Promise<AgentProcess>;
  agent(name: string): AgentProcess;
  startRouter(): Promise<void>;
  /** `<state-dir>/gears/<id>` of a node. */
  gearDir(node: string, gearId: string): string;
  /** Creates an app with one gear and waits until the gear answers on its endpoint. */
  createStartedGear(app: string): Promise<GearView>;
  /** The journal's move operations of a gear, read straight from the store (call with no broker running). */
  readJournal(gearId: string): Promise<Operation[]>;
  /**
   * Waits until the gear is settled on `owner` and nowhere else: the broker places it there and
   * sees it started, exactly one live process carries its GEAR_ID and that process's GEAR_DIR is
   * its directory on `owner`, no other node has a directory for it, and it answers on its endpoint
   * and through the router. Returns the gear's pid.
   */
  waitSettledOn(gearId: string, app: string, owner: string, timeoutMs?: number): Promise<number>;
  close(): Promise<void>;
}

export async function startKillPlatform(conf: Record<string, string> = {}): Promise<KillPlatform> {
  const home = mkdtempSync(join(tmpdir(), 'geartide-kill-'));
  const brokerPort = await freePort();
  const brokerUrl = `http://127.0.0.1:${brokerPort}`;
  const confPath = writeBrokerConf(join(home, 'broker.conf'), {
    DATASTORE_URL: `sqlite:${join(home, 'broker.db')}`,
    BROKER_PORT: String(brokerPort),
    BROKER_LOG_LEVEL: 'warn',
    NODE_BOOTSTRAP_TOKEN: BOOTSTRAP_TOKEN,
    ROUTER_TOKEN,
    NODE_HEARTBEAT_INTERVAL: '1',
    NODE_LOST_AFTER: '10',
    ...conf,
  });
  const baseEnv = { GEARTIDE_HOME: home };
  const agents = new Map<string, AgentProcess>();
  const agentPorts = new Map<string, number>();
  let broker: BrokerProcess | undefined;
  let router: { child: ChildProcess; url: string } | undefined;
  let userToken = '';

  const close = async () => {
    await broker?.stop().catch(() => undefined);
    killProcessesUnder(home);
    // Agents and gears were SIGKILLed: wait for them to be gone before removing their directories.
    for (const agent of agents.values()) await agent.exited;
    const deadline = Date.now() + 5_000;
    while (killProcessesUnder(home) > 0 && Date.now() < deadline) await sleep(50);
    rmSync(home, { recursive: true, force: true });
  };

  try {
    const adminToken = createBrokerUser(confPath, baseEnv, 'admin', { admin: true });
    broker = await startBrokerProcess({ confPath, env: baseEnv });

    const api = async (method: string, path: string, options: ApiOptions = {}) => {
      const response = await fetch(`${brokerUrl}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${options.token ?? userToken}`, ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await response.text();
      const want = options.status ?? (method === 'POST' && /\/(users|domains|apps|districts)$/.test(path) ? 201 : method === 'DELETE' ? 204 : 200);
      assert.equal(response.status, want, `${method} ${path} answered ${response.status}: ${text}`);
      return text === '' ? undefined : JSON.parse(text);
    };

    userToken = (await api('POST', '/users', { token: adminToken, body: { login: 'bob', maxGears: 100 } })).token;
    await api('POST', '/domains', { body: { name: DOMAIN } });
    await api('POST', '/districts', { token: adminToken, body: { name: DISTRICT } });

    const stateDirOf = (name: string) => join(home, 'nodes', name);
    const gearDir = (node: string, gearId: string) => join(stateDirOf(node), 'gears', gearId);

    const platform: KillPlatform = {
      home,
      adminToken,
      userToken,
      get broker() {
        return broker!;
      },
      brokerUrl,
      get routerUrl() {
        assert.ok(router, 'startRouter() first');
        return router.url;
      },
      async restartBroker(failpoint) {
        await broker?.stop();
        broker = await startBrokerProcess({ confPath, env: baseEnv, ...(failpoint ? { failpoint } : {}) });
        return broker;
      },
      api,
      async startAgent(name) {
        const previous = agents.get(name);
        if (previous) assert.ok(previous.child.exitCode !== null || previous.child.signalCode !== null, `agent ${name} still runs`);
        const port = agentPorts.get(name) ?? (await freePort());
        agentPorts.set(name, port);
        const stateDir = stateDirOf(name);
        mkdirSync(stateDir, { recursive: true });
        const child = spawn(
          process.execPath,
          [GEARTIDE_BIN, 'node', '--broker', brokerUrl, '--name', name, '--district', DISTRICT, '--state-dir', stateDir, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'],
          { env: { PATH: process.env.PATH, ...baseEnv, GEARTIDE_BOOTSTRAP_TOKEN: BOOTSTRAP_TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let output = '';
        child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
        child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
        const exited = new Promise<ProcessExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
        const url = await waitFor(() => /listening on (\S+)/.exec(output)?.[1], `agent ${name} to listen`, 30_000, () => output);
        const agent: AgentProcess = { name, child, url, stateDir, output: () => output, exited };
        agents.set(name, agent);
        await waitFor(async () => (await api('GET', `/nodes/${name}`, { token: adminToken })).state === 'active', `node ${name} to be active`, 15_000);
        return agent;
      },
      agent(name) {
        const agent = agents.get(name);
        assert.ok(agent, `no agent ${name}`);
        return agent;
      },
      async startRouter() {
        const child = spawn(process.execPath, [GEARTIDE_BIN, 'router', '--broker', brokerUrl, '--port', '0', '--log-level', 'warn'], {
          env: { PATH: process.env.PATH, ...baseEnv, GEARTIDE_ROUTER_TOKEN: ROUTER_TOKEN },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
        child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
        const url = await waitFor(() => /router listening on (\S+)/.exec(output)?.[1], 'the router to listen', 30_000, () => output);
        router = { child, url };
      },
      gearDir,
      async createStartedGear(app) {
        await api('POST', `/domains/${DOMAIN}/apps`, { body: { name: app, cartridge: 'nodejs', gears: 1 } });
        return waitFor(
          async () => {
            const gear = (await api('GET', `/domains/${DOMAIN}/apps/${app}`)).gears[0] as GearView | undefined;
            return gear?.observedState === 'started' && gear.endpoint && (await answers(gear.endpoint, gear.id)) ? gear : undefined;
          },
          `app ${app}'s gear to answer`,
          30_000,
        );
      },
      async readJournal(gearId) {
        const store = await openStore(`sqlite:${join(home, 'broker.db')}`);
        try {
          return (await store.listOperations({ kind: 'move' })).filter((operation) => operation.subject === `gear:${gearId}`);
        } finally {
          await store.close();
        }
      },
      async waitSettledOn(gearId, app, owner, timeoutMs = 30_000) {
        let why = '';
        const pid = await waitFor(
          async () => {
            const pids = findProcessesWithEnv('GEAR_ID', gearId);
            const dirs = pids.map((each) => processEnv(each, 'GEAR_DIR'));
            if (pids.length !== 1 || dirs[0] !== gearDir(owner, gearId)) return void (why = `gear processes ${JSON.stringify(pids)} in ${JSON.stringify(dirs)}`);
            const strays = [...agentPorts.keys()].filter((node) => node !== owner && existsSync(gearDir(node, gearId)));
            if (strays.length > 0) return void (why = `gear directory left on ${strays.join(', ')}`);
            const gear = (await api('GET', `/gears/${gearId}`, { token: adminToken })) as GearView;
            if (gear.node !== owner || gear.observedState !== 'started' || !gear.endpoint) return void (why = `broker says ${JSON.stringify(gear)}`);
            if (!(await answers(gear.endpoint, gearId))) return void (why = `the gear does not answer on ${gear.endpoint}`);
            if (router && !(await answersThroughRouter(router.url, app, gearId))) return void (why = 'the gear does not answer through the router');
            return pids[0];
          },
          `gear ${gearId} to run once, on ${owner} only`,
          timeoutMs,
          () => why,
        );
        return pid;
      },
      close,
    };
    return platform;
  } catch (error) {
    await close();
    throw error;
  }
}

/** The nodejs cartridge's built-in app names its gear: true when `endpoint` is that gear. */
export async function answers(endpoint: string, gearId: string, timeoutMs = 3_000): Promise<boolean> {
  try {
    const response = await fetch(`http://${endpoint}/`, { signal: AbortSignal.timeout(timeoutMs) });
    return response.status === 200 && (await response.text()).includes(`gear ${gearId}`);
  } catch {
    return false;
  }
}

async function answersThroughRouter(routerUrl: string, app: string, gearId: string): Promise<boolean> {
  const { request } = await import('undici');
  try {
    const response = await request(`${routerUrl}/`, { headers: { host: `${app}-${DOMAIN}.localhost` }, headersTimeout: 3_000, bodyTimeout: 3_000 });
    return response.statusCode === 200 && (await response.body.text()).includes(`gear ${gearId}`);
  } catch {
    return false;
  }
}

/** Polls `probe` until it returns something truthy; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(probe: () => T | undefined | false | null | Promise<T | undefined | false | null>, what: string, timeoutMs = 10_000, detail?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}${detail ? `: ${detail()}` : ''}`);
    }
    await sleep(50);
  }
}

/** Resolves with the value, or fails after `timeoutMs` naming `what`. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The gear's record as its agent wrote it (gear.json), or undefined. */
export function readGearRecord(dir: string): any {
  try {
    return JSON.parse(readFileSync(join(dir, 'gear.json'), 'utf8'));
  } catch {
    return undefined;
  }
}
