// `geartide router --workers N` as real processes (a primary and its node:cluster workers)
// against the route-table TEST DOUBLE (not the broker) and a real gear backend.
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';

import { restartDelayMs } from '../../../src/router/router-workers.ts';
import { ROUTER_TOKEN, startBrokerRoutesDouble, type BrokerRoutesDouble } from './broker-routes-double.ts';
import { sleep, startGearBackend, type GearBackend } from './gear-backends.ts';
import { startRouterCommand, type RouterCommandProcess } from './router-command-process.ts';

const HOST = 'hello-demo.apps.test';
let broker: BrokerRoutesDouble;
let gear: GearBackend;

before(async () => {
  gear = await startGearBackend('gear-workers');
  broker = await startBrokerRoutesDouble([{ host: HOST, app: 'hello', domain: 'demo', desiredState: 'started', endpoints: [gear.endpoint] }]);
});
after(async () => {
  await broker.stop();
  await gear.stop();
});

function runRouter(args: string[]) {
  return startRouterCommand(['--broker', broker.url, '--cloud-domain', 'apps.test', ...args], { GEARTIDE_ROUTER_TOKEN: ROUTER_TOKEN });
}

/** One request on a connection of its own, so the primary hands it to the next worker. */
function fresh(url: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpGet(`${url}${path}`, { agent: false, headers: { host: HOST } }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.setTimeout(3_000, () => request.destroy(new Error('no answer within 3 s')));
  });
}

/** The pids of the workers that answered `requests` health checks, each on a new connection. */
async function healthPids(url: string, requests: number, failures: string[] = []): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let index = 0; index < requests; index++) {
    const answer = await fresh(url, '/_geartide/health').catch((error: Error) => {
      failures.push(error.message);
      return undefined;
    });
    if (answer?.status === 200) pids.add((JSON.parse(answer.body) as { pid: number }).pid);
    else if (answer !== undefined) failures.push(`status ${answer.status}`);
  }
  return pids;
}

async function listeningUrl(run: RouterCommandProcess): Promise<string> {
  const started = Date.now();
  for (;;) {
    const url = /listening on (http:\/\/\S+)/.exec(run.output().stdout)?.[1];
    if (url !== undefined) return url;
    assert.ok(Date.now() - started < 20_000, `router started: ${JSON.stringify(run.output())}`);
    await sleep(50);
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('router --workers 2: two processes serve one port; a worker killed is started again while the other serves; SIGTERM stops all', async () => {
  const run = runRouter(['--port', '0', '--workers', '2', '--log-level', 'info']);
  try {
    const url = await listeningUrl(run);
    assert.match(run.output().stdout, /\(2 workers, routes from /);
    // Both workers answer, each its own process (not the primary).
    let pids = new Set<number>();
    const started = Date.now();
    while (pids.size < 2) {
      assert.ok(Date.now() - started < 15_000, `two workers answered: ${[...pids].join(', ')}`);
      pids = new Set([...pids, ...(await healthPids(url, 4))]);
    }
    assert.equal(pids.size, 2);
    assert.ok(!pids.has(run.child.pid!), 'the primary only supervises');
    // Each routes to the gear (each follows the broker itself).
    const routed = new Set<string>();
    for (let index = 0; index < 6; index++) routed.add((await fresh(url, '/')).body);
    assert.deepEqual([...routed], ['gear-workers']);

    const [victim, survivor] = [...pids] as [number, number];
    process.kill(victim, 'SIGKILL');
    // While the victim is down, every new connection is answered, by the survivor.
    const failures: string[] = [];
    const during = await healthPids(url, 10, failures);
    assert.deepEqual(failures, [], 'no connection is lost with the killed worker');
    assert.ok(during.has(survivor) && !during.has(victim), `only the survivor answered: ${[...during].join(', ')}`);
    // It is started again (a new pid), and routes again.
    let restarted: number | undefined;
    while (restarted === undefined) {
      assert.ok(Date.now() - started < 30_000, `the killed worker was started again: ${run.output().stderr}${run.output().stdout}`);
      restarted = [...(await healthPids(url, 4))].find((pid) => pid !== survivor);
    }
    assert.ok(restarted !== victim && alive(restarted));
    assert.match(run.output().stdout, /router worker died; starting it again/);
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
    assert.ok(!alive(survivor) && !alive(restarted), 'no worker outlives the primary');
  } finally {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
  }
});

test('router --workers: the workers of a primary killed outright (SIGKILL) exit too, freeing the port', async () => {
  const run = runRouter(['--port', '0', '--workers', '2']);
  try {
    const url = await listeningUrl(run);
    let pids = new Set<number>();
    const started = Date.now();
    while (pids.size < 2) {
      assert.ok(Date.now() - started < 15_000, 'two workers answered');
      pids = new Set([...pids, ...(await healthPids(url, 4))]);
    }
    run.child.kill('SIGKILL');
    while ([...pids].some(alive)) {
      assert.ok(Date.now() - started < 20_000, `workers left running: ${[...pids].filter(alive).join(', ')}`);
      await sleep(50);
    }
    // The port is free for the router started next (by systemd, say).
    const port = Number(new URL(url).port);
    const probe = createServer();
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => probe.close(resolve));
  } finally {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  }
});

test('router --workers: a worker that cannot listen stops the whole router with its error', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const run = runRouter(['--port', String((taken.address() as AddressInfo).port), '--workers', '2']);
    const code = await run.exited;
    assert.notEqual(code, 0);
    assert.match(run.output().stderr, /EADDRINUSE/);
    assert.doesNotMatch(run.output().stdout, /listening on/);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});

test('router --workers takes a whole number or auto, and names the option otherwise', async () => {
  for (const bad of ['0', 'two', '1.5', '257']) {
    const run = runRouter(['--port', '0', '--workers', bad]);
    assert.equal(await run.exited, 2, bad);
    assert.match(run.output().stderr, /--workers/, bad);
  }
});

test('a worker slot that keeps dying waits longer each time, up to the cap', () => {
  const backoff = { initialMs: 500, maxMs: 30_000, resetAfterMs: 60_000 };
  assert.deepEqual([1, 2, 3, 4, 7, 8, 20].map((deaths) => restartDelayMs(deaths, backoff)), [500, 1_000, 2_000, 4_000, 30_000, 30_000, 30_000]);
});
