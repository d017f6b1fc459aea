// Runs the real CLI against the broker-contract TEST DOUBLE in broker-double.ts (not the broker).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, startBrokerDouble } from './broker-double.ts';
import type { BrokerDouble } from './broker-double.ts';
import { runCli } from './run-cli.ts';

let broker: BrokerDouble;
let env: Record<string, string>;
before(async () => {
  broker = await startBrokerDouble();
  env = { GEARTIDE_URL: broker.url, GEARTIDE_TOKEN: ADMIN_TOKEN };
  const node = (name: string, heartbeatAgoMs: number | null) => ({
    id: `n-${name}`,
    name,
    gearProfile: 'small',
    district: null,
    state: 'active',
    maxActiveGears: 100,
    placedActiveGears: 25,
    gears: { started: 24, idle: 3, stopped: 1, unknown: 1 },
    activeUsagePct: 25,
    endpoint: 'http://127.0.0.1:7001',
    scaleEventId: null,
    lastHeartbeatAt: heartbeatAgoMs === null ? null : new Date(Date.now() - heartbeatAgoMs).toISOString(),
    createdAt: '2025-01-02T03:04:05.000Z',
  });
  broker.state.nodes.set('node-1', node('node-1', 5_000));
  broker.state.nodes.set('node-2', { ...node('node-2', null), state: 'provisioning', placedActiveGears: 0, activeUsagePct: 12.345 });
});
after(() => broker.close());

describe('admin district', () => {
  test('create with --profile, --first-uid and --capacity', async () => {
    const result = await runCli(['admin', 'district', 'create', 'small1', '--profile', 'small', '--first-uid', '2000', '--capacity', '100'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(broker.requests.at(-1)!.body, { name: 'small1', gearProfile: 'small', firstUid: 2000, maxCapacity: 100 });
    assert.equal(result.stdout, 'district small1: created for gear profile small, UIDs 2000..2099 (0 nodes, 100/100 UIDs free)\n');
  });

  test('add-node, deactivate-node, activate-node, remove-node', async () => {
    const steps: [string[], string, string][] = [
      [['add-node', 'small1', 'node-1'], 'POST /districts/small1/nodes', 'node node-1 added (1 node,'],
      [['deactivate-node', 'small1', 'node-1'], 'POST /districts/small1/nodes/node-1/deactivate', 'node node-1 deactivated'],
      [['activate-node', 'small1', 'node-1'], 'POST /districts/small1/nodes/node-1/activate', 'node node-1 activated'],
      [['add-node', 'small1', 'node-2'], 'POST /districts/small1/nodes', 'node node-2 added (2 nodes,'],
      [['remove-node', 'small1', 'node-2'], 'DELETE /districts/small1/nodes/node-2', 'node node-2 removed (1 node,'],
    ];
    for (const [args, request, want] of steps) {
      const result = await runCli(['admin', 'district', ...args], env);
      assert.equal(result.code, 0, result.stderr);
      const last = broker.requests.at(-1)!;
      assert.equal(`${last.method} ${last.path}`, request);
      assert.ok(result.stdout.includes(want), result.stdout);
    }
    assert.deepEqual(broker.requests.find((r) => r.path === '/districts/small1/nodes')!.body, { node: 'node-1' });
  });

  test('add-capacity and remove-capacity', async () => {
    const added = await runCli(['admin', 'district', 'add-capacity', 'small1', '50'], env);
    assert.equal(added.code, 0, added.stderr);
    assert.deepEqual(broker.requests.at(-1)!.body, { add: 50 });
    assert.match(added.stdout, /50 UIDs added \(1 node, 150\/150 UIDs free\)/);
    const removed = await runCli(['admin', 'district', 'remove-capacity', 'small1', '20'], env);
    assert.deepEqual(broker.requests.at(-1)!.body, { remove: 20 });
    assert.match(removed.stdout, /130\/130 UIDs free/);
    const refused = await runCli(['admin', 'district', 'remove-capacity', 'small1', '1000'], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, 'error: cannot remove UIDs that gears hold (field: remove)\n');
  });

  test('list and show', async () => {
    const list = await runCli(['admin', 'district', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+PROFILE\s+NODES\s+ACTIVE NODES\s+UIDS FREE\s+FIRST UID\nsmall1\s+small\s+1\s+1\s+130\/130\s+2000\n$/);
    const show = await runCli(['admin', 'district', 'show', 'small1'], env);
    assert.match(show.stdout, /uids:\s+2000\.\.2129/);
    assert.match(show.stdout, /NODE\s+ACTIVE\s+STATE\nnode-1\s+yes\s+active/);
    const json = await runCli(['admin', 'district', 'show', 'small1', '--json'], env);
    assert.deepEqual(JSON.parse(json.stdout), broker.state.districts.get('small1'));
  });

  test('show of an unknown district: not found, exit 1', async () => {
    const result = await runCli(['admin', 'district', 'show', 'nope'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "error: district 'nope' not found\n");
  });
});

describe('admin node', () => {
  test('list: state, profile, district, active/max, usage, heartbeat age', async () => {
    const result = await runCli(['admin', 'node', 'list'], env);
    assert.equal(result.code, 0, result.stderr);
    const [header, first, second] = result.stdout.trimEnd().split('\n');
    assert.match(header!, /^NAME\s+STATE\s+PROFILE\s+DISTRICT\s+ACTIVE\/MAX\s+USAGE\s+HEARTBEAT$/);
    assert.match(first!, /^node-1\s+active\s+small\s+-\s+25\/100\s+25%\s+\d+s ago$/);
    assert.match(second!, /^node-2\s+provisioning\s+small\s+-\s+0\/100\s+12\.3%\s+never$/);
  });

  test('show and --json', async () => {
    const result = await runCli(['admin', 'node', 'show', 'node-1'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /active gears:\s+25 placed of 100 max/);
    assert.match(result.stdout, /reported gears:\s+24 started, 3 idle, 1 stopped, 1 unknown/);
    assert.match(result.stdout, /last heartbeat:\s+\d+s ago \(/);
    const json = await runCli(['admin', 'node', 'show', 'node-1', '--json'], env);
    assert.deepEqual(JSON.parse(json.stdout), broker.state.nodes.get('node-1'));
  });
});

describe('admin user', () => {
  test('create prints the new token once, with the role and limit', async () => {
    const result = await runCli(['admin', 'user', 'create', 'bob', '--admin', '--max-gears', '20'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(broker.requests.at(-1)!.body, { login: 'bob', role: 'admin', maxGears: 20 });
    assert.equal(result.stdout, ['user bob created (role admin, max 20 gears)', 'token: gt_user_bob_0123456789', 'hand this token to the user (GEARTIDE_TOKEN); it is not shown again', ''].join('\n'));
  });

  test('create of an existing login: conflict naming the field', async () => {
    const result = await runCli(['admin', 'user', 'create', 'bob'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "error: user 'bob' already exists (field: login)\n");
  });

  test('list and delete', async () => {
    const list = await runCli(['admin', 'user', 'list'], env);
    assert.match(list.stdout, /^LOGIN\s+ROLE\s+MAX GEARS\s+CREATED\n/);
    assert.match(list.stdout, /\nbob\s+admin\s+20\s+/);
    assert.ok(!list.stdout.includes('gt_'), 'no token in a listing');
    const deleted = await runCli(['admin', 'user', 'delete', 'bob'], env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, 'user bob deleted\n');
    assert.equal(broker.requests.at(-1)!.method, 'DELETE');
  });
});
