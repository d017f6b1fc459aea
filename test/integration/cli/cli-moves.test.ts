// The real CLI (bin/geartide.js, a child process) against the real broker (cli-broker.ts): gear
// moves and node drains (docs/moves.md). The broker's mover is stepped with passMover(); the
// target agent's part is played over the agents' own REST calls (its desired list, then
// PUT /nodes/:name/moves/:id), as a real agent would once its copy is healthy. Output is a pipe,
// so the CLI prints one line per change (the terminal's progress bar has unit tests).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { startCliBroker, type CliBroker, type CliBrokerNode } from './cli-broker.ts';
import { runCli, startCli, type CliResult } from './run-cli.ts';

let broker: CliBroker;
let env: Record<string, string>;
before(async () => {
  broker = await startCliBroker();
  env = broker.env(broker.admin.token);
  await broker.api('POST', '/domains', { body: { name: 'demo' } });
});
after(() => broker?.close());

interface DesiredGear {
  id: string;
  move?: { id: string; role: string; phase: string };
}

/**
 * Plays the broker's mover and the target agents until `done` settles: each incoming copy is
 * reported `outcome` once (pause 7 ms when started).
 */
async function driveMoves(targets: readonly CliBrokerNode[], done: Promise<CliResult>, outcome: 'started' | 'failed' = 'started'): Promise<CliResult> {
  let finished = false;
  void done.then(() => (finished = true));
  const reported = new Set<string>();
  while (!finished) {
    await broker.passMover();
    for (const node of targets) {
      const desired = (await broker.api('GET', `/nodes/${node.name}/gears`, { token: node.credential })).items as DesiredGear[];
      for (const gear of desired) {
        const move = gear.move;
        if (move?.role !== 'target' || move.phase !== 'copying' || reported.has(move.id)) continue;
        reported.add(move.id);
        const body = outcome === 'started' ? { state: 'started', endpoint: `127.0.0.1:${21000 + reported.size}`, pauseMs: 7 } : { state: 'failed', error: 'health check never passed' };
        await broker.api('PUT', `/nodes/${node.name}/moves/${move.id}`, { token: node.credential, body, status: 204 });
      }
    }
    await sleep(50);
  }
  return done;
}

/** A district with `source` holding `gears` gears of a new app, and `others` empty nodes joined after; every other node deactivated. */
async function districtWithGears(district: string, app: string, gears: number, others: string[]): Promise<{ source: CliBrokerNode; targets: CliBrokerNode[]; gearIds: string[] }> {
  // Placement spans the profile's districts: earlier tests' nodes must not take this app's gears.
  for (const node of (await broker.api('GET', '/nodes')).items as { name: string; state: string }[]) {
    if (node.state === 'active') await broker.api('POST', `/nodes/${node.name}/deactivate`);
  }
  await broker.api('POST', '/districts', { body: { name: district, gearProfile: 'small' } });
  const source = await broker.registerNode(`${district}-src`, { district, maxActiveGears: 10 });
  const created = await broker.api('POST', '/domains/demo/apps', { body: { name: app, cartridge: 'static', gears }, status: 201 });
  const targets: CliBrokerNode[] = [];
  for (const name of others) targets.push(await broker.registerNode(`${district}-${name}`, { district, maxActiveGears: 10 }));
  return { source, targets, gearIds: (created.gears as { id: string }[]).map((gear) => gear.id) };
}

describe('admin node drain', () => {
  test('refused when the gears do not fit: the planner reason, exit 1, nothing moves', async () => {
    await districtWithGears('lonely', 'solo', 2, []);
    const result = await runCli(['admin', 'node', 'drain', 'lonely-src'], env);
    assert.equal(result.code, 1, result.stdout);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^error: cannot drain node lonely-src: none of its 2 gears fits on the other active nodes of district lonely/);
    assert.equal(result.stderr.split('\n').length, 2, 'one line');
  });

  test('follows the drain to the end: the plan, one line per change, the table, exit 0', async () => {
    const { source, targets, gearIds } = await districtWithGears('east', 'shop', 2, ['a', 'b']);
    const result = await driveMoves(targets, startCli(['admin', 'node', 'drain', source.name, '--parallel', '2', '--deadline', '60'], env).done);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^drain of node east-src: move 2 gears of node east-src to 2 other active nodes of district east: east-a \(1\), east-b \(1\) \(2 at a time, deadline \d{4}-/);
    for (const id of gearIds) {
      assert.ok(lines.some((line) => line.startsWith(`gear ${id} (shop-demo) east-src -> east-`) && line.endsWith(': moved, pause 7 ms')), `a moved line for ${id}:\n${result.stdout}`);
    }
    assert.ok(!result.stdout.includes('\r') && !result.stdout.includes('\x1b'), 'no terminal control characters in a pipe');
    assert.ok(lines.some((line) => /^GEAR\s+APP\s+FROM\s+TO\s+STATUS\s+PAUSE\s+ERROR$/.test(line)));
    assert.equal(lines.at(-1), 'drain of node east-src succeeded: 2 of 2 gears moved, longest pause 7 ms');
    const gears = await Promise.all(gearIds.map((id) => broker.api('GET', `/gears/${id}`)));
    assert.deepEqual(gears.map((gear) => gear.node).sort(), ['east-a', 'east-b']);
  });

  test('Ctrl-C stops following, not the drain, and says how to cancel; cancel-drain re-activates the node', async () => {
    const { source } = await districtWithGears('west', 'blog', 1, ['a']);
    const run = startCli(['admin', 'node', 'drain', source.name], env);
    // The mover is not stepped: the drain stays running while the CLI follows it.
    let stdout = '';
    run.child.stdout!.on('data', (text: string) => (stdout += text));
    for (let wait = 0; wait < 100 && !stdout.includes('drain of node west-src'); wait++) await sleep(50);
    run.child.kill('SIGINT');
    const result = await run.done;
    assert.equal(result.code, 130);
    assert.match(result.stderr, /stopped following; the drain of node west-src goes on on the broker: `geartide admin node drain-status west-src --follow` follows it again, `geartide admin node cancel-drain west-src` cancels it/);
    assert.equal((await broker.api('GET', `/nodes/${source.name}/drain`)).status, 'running');

    const cancelled = await runCli(['admin', 'node', 'cancel-drain', source.name], env);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stdout, /^drain of node west-src cancelled: /);
    assert.equal((await broker.api('GET', `/nodes/${source.name}`)).state, 'active');

    const status = await runCli(['--json', 'admin', 'node', 'drain-status', source.name], env);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).status, 'cancelled');
  });
});

describe('admin move', () => {
  test('--to a named node with --json: the final moves as JSON, exit 0', async () => {
    const { targets, gearIds } = await districtWithGears('north', 'api', 1, ['a', 'b']);
    const result = await driveMoves(targets, startCli(['--json', 'admin', 'move', '--gear', gearIds[0]!, '--to', 'north-b'], env).done);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    assert.equal(json.items.length, 1);
    assert.deepEqual([json.items[0].gear, json.items[0].to, json.items[0].status, json.items[0].pauseMs], [gearIds[0], 'north-b', 'succeeded', 7]);
    assert.equal((await broker.api('GET', `/gears/${gearIds[0]}`)).node, 'north-b');
  });

  test('a copy that fails: the gear stays, the line says why, exit 1', async () => {
    const { source, targets, gearIds } = await districtWithGears('south', 'cms', 1, ['a']);
    const result = await driveMoves(targets, startCli(['admin', 'move', '--gear', gearIds[0]!], env).done, 'failed');
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, new RegExp(`gear ${gearIds[0]} \\(cms-demo\\) south-src -> south-a: (failed|rolled back, the gear stays on south-src): .*health check never passed`));
    assert.match(result.stderr, /^error: 1 move did not all succeed: 0 of 1 gear moved, 1 failed\n$/);
    assert.equal((await broker.api('GET', `/gears/${gearIds[0]}`)).node, source.name);
  });

  test('--to a node of another district without --change-district: refused with the reason, exit 1', async () => {
    const { gearIds } = await districtWithGears('far', 'wiki', 1, []);
    await broker.api('POST', '/nodes/east-a/activate');
    const result = await runCli(['admin', 'move', '--gear', gearIds[0]!, '--to', 'east-a'], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^error: .*district.*--change-district/);
  });
});
