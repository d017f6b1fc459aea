/**
 * The README's tour, run for real: `geartide up` as a child process (broker, router, two local
 * node agents, gears as processes), driven by the real CLI, answered through the real router.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { request } from 'undici';

import { findProcessesWithEnv } from '../../../src/node/process-identity.ts';
import { freePort } from '../../support/broker-process.ts';

const BIN = fileURLToPath(new URL('../../../bin/geartide.js', import.meta.url));

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

describe('geartide up: the README tour on one machine', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  let routerPort: number;
  let up: ChildProcess | undefined;
  let output = '';

  const cli = (...args: string[]) => {
    const result = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 30_000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const cliJson = (...args: string[]) => {
    const result = cli('--json', ...args);
    assert.equal(result.status, 0, `geartide ${args.join(' ')} failed: ${result.stderr}`);
    return JSON.parse(result.stdout);
  };
  const viaRouter = async (host: string) => {
    const response = await request(`http://127.0.0.1:${routerPort}/`, { headers: { host } });
    return { status: response.statusCode, text: await response.body.text() };
  };

  async function startUp(): Promise<void> {
    output = '';
    up = spawn(process.execPath, [BIN, 'up'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    up.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    up.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await eventually('the up banner', async () => (output.includes('geartide is up') ? true : undefined), 60_000);
  }

  async function stopUp(): Promise<void> {
    if (!up || up.exitCode !== null) return;
    const exited = new Promise((resolve) => up!.once('exit', resolve));
    up.kill('SIGTERM');
    await exited;
  }

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'geartide-up-'));
    routerPort = await freePort();
    env = {
      PATH: process.env.PATH,
      HOME: home,
      GEARTIDE_HOME: home,
      BROKER_PORT: String(await freePort()),
      ROUTER_PUBLIC_PORT: String(routerPort),
      BROKER_LOG_LEVEL: 'warn',
    };
    await startUp();
  });

  after(async () => {
    await stopUp();
    // Nothing of this home may outlive the test, whatever failed.
    for (const pid of findProcessesWithEnv('GEARTIDE_HOME', home)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(home, { recursive: true, force: true });
  });

  it('writes config.json with the broker URL, router URL and an admin token the CLI uses', () => {
    const config = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8'));
    assert.match(config.brokerUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(config.routerUrl, `http://localhost:${routerPort}`);
    assert.match(config.token, /^gtu_/);
    assert.equal(cliJson('whoami').login, 'admin');
    assert.ok(!output.includes(config.token), 'the token is never printed');
  });

  it('runs two registered node agents in the default district', () => {
    const nodes = cliJson('admin', 'node', 'list').items;
    assert.deepEqual(nodes.map((node: { name: string }) => node.name).sort(), ['local-node-1', 'local-node-2']);
    assert.ok(nodes.every((node: { state: string; district: string }) => node.state === 'active' && node.district === 'default'));
  });

  it('creates an app that answers through the router, scales it over both nodes, stops and deletes it', async () => {
    assert.equal(cli('domain', 'create', 'demo').status, 0);
    assert.equal(cli('app', 'create', 'hello', 'nodejs', '-n', 'demo').status, 0);
    const first = await eventually('hello answering through the router', async () => {
      const answer = await viaRouter('hello-demo.localhost');
      return answer.status === 200 ? answer.text : undefined;
    });
    assert.match(first, /^Hello from geartide: app hello, gear [0-9a-f]{32}\n$/);

    assert.equal(cli('app', 'scale', 'hello', '3', '-n', 'demo').status, 0);
    const app = await eventually('three started gears', async () => {
      const shown = cliJson('app', 'show', 'hello', '-n', 'demo');
      return shown.gears.filter((gear: { observedState: string }) => gear.observedState === 'started').length === 3 ? shown : undefined;
    });
    assert.deepEqual([...new Set(app.gears.map((gear: { node: string }) => gear.node))].sort(), ['local-node-1', 'local-node-2'], 'spread over both nodes');
    const answered = new Set<string>();
    await eventually('the router to reach all three gears', async () => {
      answered.add((await viaRouter('hello-demo.localhost')).text);
      return answered.size === 3 ? true : undefined;
    });

    assert.equal(cli('app', 'stop', 'hello', '-n', 'demo').status, 0);
    const stopped = await eventually('503 for the stopped app', async () => {
      const answer = await viaRouter('hello-demo.localhost');
      return answer.status === 503 ? answer : undefined;
    });
    assert.match(stopped.text, /hello-demo is stopped/);
    assert.equal((await viaRouter('nosuch-demo.localhost')).status, 404);

    assert.equal(cli('app', 'delete', 'hello', '-n', 'demo').status, 0);
    await eventually('gear processes and directories gone', async () => {
      const left = app.gears.flatMap((gear: { id: string; node: string }) => {
        const dir = join(home, 'nodes', gear.node, 'gears', gear.id);
        return existsSync(dir) || findProcessesWithEnv('GEAR_DIR', dir).length > 0 ? [gear.id] : [];
      });
      return left.length === 0 ? true : undefined;
    });
  });

  it('stops everything on SIGTERM, and a second up reuses the store, token and node hosts', async () => {
    const token = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')).token;
    assert.equal(cli('app', 'create', 'again', 'nodejs', '-n', 'demo').status, 0);
    await eventually('again answering', async () => ((await viaRouter('again-demo.localhost')).status === 200 ? true : undefined));
    await stopUp();
    assert.match(output, /geartide: stopped/);
    const nodesDir = join(home, 'nodes');
    const leftovers = readdirSync(nodesDir).flatMap((node) => findProcessesWithEnv('GEARTIDE_HOME', home).map((pid) => `${node}:${pid}`));
    assert.deepEqual(leftovers, [], 'no agent or gear process outlives up');

    await startUp();
    assert.equal(JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')).token, token, 'the admin token is reused');
    assert.deepEqual(cliJson('domain', 'list').items.map((domain: { name: string }) => domain.name), ['demo']);
    assert.deepEqual(readdirSync(nodesDir).sort(), ['local-node-1', 'local-node-2'], 'the same node hosts, no new ones');
    await eventually('again answering after the restart', async () => ((await viaRouter('again-demo.localhost')).status === 200 ? true : undefined), 30_000);
  });
});
