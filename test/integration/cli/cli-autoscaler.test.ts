// The real CLI against the real broker with the autoscaler configured (local provider, its
// controllers off so nothing starts by itself): `geartide admin autoscaler status|plan|pause|resume`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startCliBroker, type CliBroker } from './cli-broker.ts';
import { eventually } from '../../support/platform.ts';
import { runCli, startCli } from './run-cli.ts';

let broker: CliBroker;
let off: CliBroker;
let env: Record<string, string>;
before(async () => {
  // LOCAL_MAX_NODES=0: the "cloud" has no room for any host (node-1 registers by itself).
  broker = await startCliBroker({ conf: { AUTOSCALE_PROVIDER: 'local', AUTOSCALE_POOLS: 'small min=1 max=3', LOCAL_MAX_NODES: '0' } });
  off = await startCliBroker();
  env = broker.env(broker.admin.token);
  await broker.api('POST', '/districts', { body: { name: 'east' } });
  await broker.registerNode('node-1', { district: 'east', maxActiveGears: 10 });
  const bob = await broker.createUser('bob');
  await broker.api('POST', '/domains', { token: bob.token, body: { name: 'demo' } });
  await broker.api('POST', '/domains/demo/apps', { token: bob.token, body: { name: 'busy', cartridge: 'nodejs', gears: 9 } });
});
after(async () => {
  await broker?.close();
  await off?.close();
});

describe('admin autoscaler', () => {
  test('status: a table of pools, then what each would do and why (exhausted here)', async () => {
    const result = await runCli(['admin', 'autoscaler', 'status'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^provider local, every 10 s, up at 80%, down only if ≤ 70% after/);
    assert.match(result.stdout, /POOL +NODES +MIN–MAX +ACTIVE\/CAPACITY +USAGE +STATE +NEXT/);
    assert.match(result.stdout, /small +1 +1–3 +9\/10 +90% +EXHAUSTED +wait/);
    assert.match(result.stdout, /pool small is EXHAUSTED: LOCAL_MAX_NODES=0 node hosts are running/);
    assert.match(result.stdout, /pool small: wait: pool small is at 90% \(9\/10 active gears on 1 schedulable node\(s\); up-threshold 80%\), but the cloud is exhausted: LOCAL_MAX_NODES=0/);
  });

  test('status --json: the same for scripts', async () => {
    const result = await runCli(['admin', 'autoscaler', 'status', '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout);
    assert.equal(status.provider, 'local');
    assert.deepEqual([status.pools[0].name, status.pools[0].min, status.pools[0].max, status.pools[0].nodes], ['small', 1, 3, { active: 1 }]);
    assert.deepEqual([status.pools[0].plan.kind, status.pools[0].plan.code], ['wait', 'exhausted']);
    assert.equal(status.pools[0].usage.pct, 90);
  });

  test('plan: the dry run, one sentence per pool; it changes nothing', async () => {
    const result = await runCli(['admin', 'autoscaler', 'plan'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^pool small: wait: .*the cloud is exhausted: LOCAL_MAX_NODES=0 node hosts are running\n$/);
    const events = (await broker.api('GET', '/events?kind=pool')).items;
    assert.deepEqual(events, [], 'a dry run records nothing');
  });

  test('pause and resume, for all pools or one; the plan says who paused it', async () => {
    const paused = await runCli(['admin', 'autoscaler', 'pause'], env);
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal(paused.stdout, 'pool small: paused by admin\n');
    assert.match((await runCli(['admin', 'autoscaler', 'plan'], env)).stdout, /pool small: wait: autoscaling of pool small is paused \(by admin\)/);
    const resumed = await runCli(['admin', 'autoscaler', 'resume', '--pool', 'small'], env);
    assert.equal(resumed.stdout, 'pool small: autoscaling\n');
    const kinds = (await broker.api('GET', '/events?kind=pool')).items.map((event: { kind: string }) => event.kind);
    assert.deepEqual(kinds, ['pool.paused', 'pool.resumed']);
  });

  test('an unknown pool, a user, and a broker with the autoscaler off: one line and exit 1', async () => {
    const unknown = await runCli(['admin', 'autoscaler', 'pause', '--pool', 'nosuch'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /pool 'nosuch' not found/);

    const bob = await broker.createUser('carol');
    const forbidden = await runCli(['admin', 'autoscaler', 'status'], broker.env(bob.token));
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /admin/);

    const disabled = await runCli(['admin', 'autoscaler', 'status'], off.env(off.admin.token));
    assert.equal(disabled.code, 1);
    assert.match(disabled.stderr, /the autoscaler is off on this broker \(AUTOSCALE_PROVIDER=none in broker.conf\)/);
  });
});

describe('an app create the broker holds for room', () => {
  let held: CliBroker;
  let bob: { token: string };
  before(async () => {
    // Room for another host (LOCAL_MAX_NODES) but the autoscaler's controllers are off, so none
    // comes: the create waits out APP_CREATE_WAIT and gets capacity_pending.
    held = await startCliBroker({ conf: { AUTOSCALE_PROVIDER: 'local', AUTOSCALE_POOLS: 'small min=1 max=3', LOCAL_MAX_NODES: '10', APP_CREATE_WAIT: '5' } });
    await held.api('POST', '/districts', { body: { name: 'east' } });
    await held.registerNode('node-1', { district: 'east', maxActiveGears: 1 });
    bob = await held.createUser('bob');
    await held.api('POST', '/domains', { token: bob.token, body: { name: 'demo' } });
  });
  after(async () => {
    await held?.close();
  });

  test('the CLI says on stderr that it is still waiting, and why; a create that fits says nothing of the kind', async () => {
    const fits = await runCli(['app', 'create', 'first', 'nodejs', '-n', 'demo'], held.env(bob.token));
    assert.equal(fits.code, 0, fits.stderr);
    assert.equal(fits.stderr, '');

    const waits = await runCli(['app', 'create', 'second', 'nodejs', '-n', 'demo'], held.env(bob.token));
    assert.notEqual(waits.code, 0);
    assert.equal(waits.stdout, '', 'stdout stays the answer alone');
    const lines = waits.stderr.trim().split('\n');
    assert.match(lines[0]!, /^still waiting for app second after 3 s: when no node host has room, the broker holds the request while the autoscaler adds one \(up to APP_CREATE_WAIT\)…$/);
    assert.equal(lines.filter((line) => line.startsWith('still waiting')).length, 1, 'said once');
    assert.match(waits.stderr, /none was ready within APP_CREATE_WAIT \(5 s\)/);
  });

  test('Ctrl-C while the create waits: nothing is created behind the developer\'s back when room comes later', async () => {
    const cli = startCli(['app', 'create', 'third', 'nodejs', '-n', 'demo'], held.env(bob.token));
    let stderr = '';
    cli.child.stderr!.on('data', (text: string) => (stderr += text));
    await eventually('the CLI to say it waits', () => /still waiting for app third/.test(stderr), 8000);
    cli.child.kill('SIGINT');
    await cli.done;
    // Room arrives: a create still waiting would now be placed on node-2.
    await held.registerNode('node-2', { district: 'east', maxActiveGears: 5 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const apps = (await held.api('GET', '/domains/demo/apps', { token: bob.token })).items as { name: string }[];
    assert.deepEqual(apps.map((app) => app.name).sort(), ['first']);
    // The operator sees what became of it.
    const abandoned = (await held.api('GET', '/events?kind=app.request-abandoned')).items as { subject: string; message: string }[];
    assert.equal(abandoned.length, 1, JSON.stringify(abandoned));
    assert.equal(abandoned[0]!.subject, 'app:demo/third');
    assert.match(abandoned[0]!.message, /^the create of app third \(1 small gear\(s\)\) was abandoned after waiting \d+ s for room: the client closed its connection; nothing was changed$/);
    // And nothing was left half-made: the same create, asked again, goes through.
    const again = await runCli(['app', 'create', 'third', 'nodejs', '-n', 'demo'], held.env(bob.token));
    assert.equal(again.code, 0, again.stderr);
  });
});

