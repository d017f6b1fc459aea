/**
 * A broker on a real clock and a real port, with a user, a domain and a district, for the node
 * agent suite. Agents run in-process (`startAgent`) or as their own processes (`spawnAgent`, for
 * SIGKILL tests). `close()` stops agents, kills every process that carries a GEAR_DIR under the
 * platform's temporary root, and removes it, whatever the test did.
 *
 *   const p = await startNodePlatform();
 *   const agent = await p.startAgent('node1');
 *   await p.createApp('hello', 'nodejs', 2);
 *   await p.close();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';

import pino from 'pino';

import { createUserWithToken } from '../../../src/broker/bootstrap-admin.ts';
import { loadBrokerConfig } from '../../../src/broker/broker-config.ts';
import { startBroker, type RunningBroker } from '../../../src/broker/broker.ts';
import { startNodeAgent, type NodeAgentOptions, type RunningNodeAgent } from '../../../src/node/node-agent.ts';
import { createTestStore, type TestStore } from '../../support/stores.ts';

export const BOOTSTRAP = 'node-suite-bootstrap-0123456789';
const AGENT_ENTRY = join(import.meta.dirname, 'run-node-agent.ts');
export const DOMAIN = 'demo';
export const DISTRICT = 'east';

export interface SpawnedAgent {
  readonly name: string;
  readonly child: ChildProcess;
  readonly stateDir: string;
  readonly url: string;
  /** Everything the agent printed (its JSON log lines are on stderr). */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
}

export interface NodePlatform {
  readonly root: string;
  readonly brokerUrl: string;
  readonly broker: RunningBroker;
  readonly adminToken: string;
  readonly userToken: string;
  /** A REST call to the broker; `token` defaults to the user's. */
  api(method: string, path: string, options?: { body?: unknown; token?: string; status?: number }): Promise<any>;
  createApp(name: string, cartridge: string, gears: number): Promise<any>;
  appGears(app: string): Promise<any[]>;
  startAgent(name: string, options?: Partial<NodeAgentOptions>): Promise<RunningNodeAgent>;
  spawnAgent(name: string, extraArgs?: string[]): Promise<SpawnedAgent>;
  close(): Promise<void>;
}

export async function startNodePlatform(env: Record<string, string> = {}): Promise<NodePlatform> {
  const root = mkdtempSync(join(tmpdir(), 'geartide-node-'));
  const agents: RunningNodeAgent[] = [];
  const children: SpawnedAgent[] = [];
  let store: TestStore | undefined;
  let broker: RunningBroker | undefined;

  const close = async () => {
    await Promise.allSettled(agents.map((agent) => agent.stop({ stopGears: true })));
    for (const agent of children) {
      if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL');
      await agent.exited;
    }
    killGearsUnder(root);
    await broker?.close();
    await store?.close();
    rmSync(root, { recursive: true, force: true });
  };

  try {
    store = await createTestStore('sqlite');
    const config = loadBrokerConfig({
      env: {
        GEARTIDE_HOME: join(root, 'broker'),
        NODE_BOOTSTRAP_TOKEN: BOOTSTRAP,
        BROKER_PORT: '0',
        BROKER_LOG_LEVEL: 'silent',
        NODE_LOST_AFTER: '2',
        NODE_HEARTBEAT_INTERVAL: '1',
        ...env,
      },
    });
    broker = await startBroker({ config, store: store.store, listen: true, controllers: true });
    const { token: adminToken } = await createUserWithToken(store.store, { login: 'admin', role: 'admin', maxGears: 1000, now: Date.now() });
    const brokerUrl = broker.url;

    const api = async (method: string, path: string, options: { body?: unknown; token?: string; status?: number } = {}) => {
      const response = await fetch(`${brokerUrl}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${options.token ?? userToken}`, ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      });
      const text = await response.text();
      const want = options.status ?? (method === 'POST' && /\/(users|domains|apps|districts)$/.test(path) ? 201 : method === 'DELETE' ? 204 : 200);
      assert.equal(response.status, want, `${method} ${path} answered ${response.status}: ${text}`);
      return text === '' ? undefined : JSON.parse(text);
    };

    const created = await api('POST', '/users', { token: adminToken, body: { login: 'bob', maxGears: 100 } });
    const userToken: string = created.token;
    await api('POST', '/domains', { body: { name: DOMAIN } });
    await api('POST', '/districts', { token: adminToken, body: { name: DISTRICT } });

    return {
      root,
      brokerUrl,
      broker,
      adminToken,
      userToken,
      api,
      createApp: (name, cartridge, gears) => api('POST', `/domains/${DOMAIN}/apps`, { body: { name, cartridge, gears } }),
      appGears: async (app) => (await api('GET', `/domains/${DOMAIN}/apps/${app}`)).gears,
      async startAgent(name, options = {}) {
        const agent = await startNodeAgent({
          brokerUrl,
          bootstrapToken: BOOTSTRAP,
          name,
          district: DISTRICT,
          stateDir: join(root, name),
          log: pino({ level: process.env.GEARTIDE_TEST_AGENT_LOG ?? 'silent' }),
          stopGraceMs: 2000,
          ...options,
        });
        agents.push(agent);
        return agent;
      },
      async spawnAgent(name, extraArgs = []) {
        const stateDir = join(root, name);
        const child = spawn(process.execPath, ['--import', 'tsx', AGENT_ENTRY, 'node', '--broker', brokerUrl, '--name', name, '--district', DISTRICT, '--state-dir', stateDir, ...extraArgs], {
          env: { PATH: process.env.PATH, GEARTIDE_HOME: join(root, 'home'), GEARTIDE_BOOTSTRAP_TOKEN: BOOTSTRAP },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
        child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        const agent: SpawnedAgent = { name, child, stateDir, url: '', output: () => output, exited };
        children.push(agent);
        const url = await waitFor(() => /listening on (\S+)/.exec(output)?.[1], `agent ${name} to listen`, 15_000, () => output);
        return { ...agent, url };
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
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
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}${detail ? `\n${detail()}` : ''}`);
    }
    await sleep(50);
  }
}

/** Live (non-zombie) processes whose environment holds `KEY=value`: read straight from /proc. */
export function processesWithEnv(key: string, value: string, prefix = false): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))) continue;
      const vars = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (vars.some((line) => (prefix ? line.startsWith(`${key}=${value}`) : line === `${key}=${value}`))) found.push(Number(entry));
    } catch {
      // gone or not ours
    }
  }
  return found;
}

/** The processes of one gear. */
export function gearPids(gearId: string): number[] {
  return processesWithEnv('GEAR_ID', gearId);
}

function killGearsUnder(root: string): void {
  for (const pid of processesWithEnv('GEAR_DIR', root, true)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** GET http://endpoint/ → the body text, or undefined when nothing answers. */
export async function fetchText(endpoint: string, path = '/'): Promise<{ status: number; text: string } | undefined> {
  try {
    const response = await fetch(`http://${endpoint}${path}`, { signal: AbortSignal.timeout(2000) });
    return { status: response.status, text: await response.text() };
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}
