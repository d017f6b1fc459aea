// The real CLI (bin/geartide.js, a child process) against the real broker (cli-broker.ts): the
// admin commands, on nodes registered as agents register (bootstrap token) and one heartbeat.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCliBroker, type CliBroker, type CliBrokerNode } from './cli-broker.ts';
import { request } from 'undici';

import { runCli } from './run-cli.ts';

let broker: CliBroker;
let env: Record<string, string>;
let node1: CliBrokerNode;
const ROUTER_TOKEN = 'router-token-of-the-cli-admin-test';
before(async () => {
  broker = await startCliBroker({ conf: { ROUTER_TOKEN } });
  env = broker.env(broker.admin.token);
  node1 = await broker.registerNode('node-1', { maxActiveGears: 100 });
  await broker.registerNode('node-2', { maxActiveGears: 8 });
  // node-1's agent reports 24 started, 3 idle, 1 stopped, 1 unknown: 25 active of 100.
  await broker.heartbeat(node1, { maxActiveGears: 100, gears: { started: 24, idle: 3, stopped: 1, unknown: 1 } });
});
after(() => broker?.close());

const district = (name: string) => broker.api('GET', `/districts/${name}`);
const lastRequest = () => {
  const last = broker.requests.at(-1)!;
  return `${last.method} ${last.path}`;
};

describe('admin district', () => {
  test('create with --profile, --first-uid and --capacity', async () => {
    const result = await runCli(['admin', 'district', 'create', 'small1', '--profile', 'small', '--first-uid', '2000', '--capacity', '100'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'district small1: created for gear profile small, UIDs 2000..2099 (0 nodes, 100/100 UIDs free)\n');
    const created = await district('small1');
    assert.deepEqual([created.gearProfile, created.firstUid, created.maxCapacity, created.availableUids], ['small', 2000, 100, 100]);
  });

  test('add-node, deactivate-node, activate-node, remove-node (refused while active)', async () => {
    const steps: { args: string[]; request: string; code: number; want: string }[] = [
      { args: ['add-node', 'small1', 'node-1'], request: 'POST /districts/small1/nodes', code: 0, want: 'district small1: node node-1 added (1 node, 100/100 UIDs free)\n' },
      { args: ['deactivate-node', 'small1', 'node-1'], request: 'POST /districts/small1/nodes/node-1/deactivate', code: 0, want: 'district small1: node node-1 deactivated (1 node, 100/100 UIDs free)\n' },
      { args: ['activate-node', 'small1', 'node-1'], request: 'POST /districts/small1/nodes/node-1/activate', code: 0, want: 'district small1: node node-1 activated (1 node, 100/100 UIDs free)\n' },
      { args: ['add-node', 'small1', 'node-2'], request: 'POST /districts/small1/nodes', code: 0, want: 'district small1: node node-2 added (2 nodes, 100/100 UIDs free)\n' },
      { args: ['remove-node', 'small1', 'node-2'], request: 'DELETE /districts/small1/nodes/node-2', code: 1, want: '' },
      { args: ['deactivate-node', 'small1', 'node-2'], request: 'POST /districts/small1/nodes/node-2/deactivate', code: 0, want: 'district small1: node node-2 deactivated (2 nodes, 100/100 UIDs free)\n' },
      { args: ['remove-node', 'small1', 'node-2'], request: 'DELETE /districts/small1/nodes/node-2', code: 0, want: 'district small1: node node-2 removed (1 node, 100/100 UIDs free)\n' },
    ];
    for (const { args, request, code, want } of steps) {
      const result = await runCli(['admin', 'district', ...args], env);
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(lastRequest(), request);
      assert.equal(result.stdout, want);
      if (code !== 0) assert.equal(result.stderr, 'error: node node-2 is active; deactivate it before removing it from district small1 (field: node)\n');
    }
    assert.deepEqual((await district('small1')).nodes, [{ name: 'node-1', active: true, state: 'active' }]);
    const node2 = await broker.api('GET', '/nodes/node-2');
    assert.deepEqual([node2.district, node2.state], [null, 'deactivated']);
  });

  test('add-node of an unknown node: not found naming the field, exit 1', async () => {
    const result = await runCli(['admin', 'district', 'add-node', 'small1', 'nosuch'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "error: node 'nosuch' not found (field: node)\n");
  });

  test('add-capacity and remove-capacity; UIDs that gears hold cannot be removed', async () => {
    // Two gears take two UIDs of the district, on its one active node.
    const carol = await broker.createUser('carol');
    await broker.api('POST', '/domains', { token: carol.token, body: { name: 'carols' } });
    await broker.api('POST', '/domains/carols/apps', { token: carol.token, body: { name: 'web', cartridge: 'static', gears: 2 } });

    const added = await runCli(['admin', 'district', 'add-capacity', 'small1', '50'], env);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, 'district small1: 50 UIDs added (1 node, 148/150 UIDs free)\n');
    const removed = await runCli(['admin', 'district', 'remove-capacity', 'small1', '20'], env);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, 'district small1: 20 UIDs removed (1 node, 128/130 UIDs free)\n');
    assert.deepEqual([(await district('small1')).maxCapacity, (await district('small1')).availableUids], [130, 128]);

    const refused = await runCli(['admin', 'district', 'remove-capacity', 'small1', '130'], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '');
    assert.equal(refused.stderr, "error: district 'small1' cannot give up 130 UIDs: only 128 of the last 130 are free (field: remove)\n");
    assert.equal((await district('small1')).maxCapacity, 130);
  });

  test('list and show; show --json is the API JSON', async () => {
    const [list, show, json] = await Promise.all([
      runCli(['admin', 'district', 'list'], env),
      runCli(['admin', 'district', 'show', 'small1'], env),
      runCli(['admin', 'district', 'show', 'small1', '--json'], env),
    ]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+PROFILE\s+NODES\s+ACTIVE NODES\s+UIDS FREE\s+FIRST UID\nsmall1\s+small\s+1\s+1\s+128\/130\s+2000\n$/);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /uids:\s+2000\.\.2129\n/);
    assert.match(show.stdout, /uids free:\s+128 of 130\n/);
    assert.match(show.stdout, /NODE\s+ACTIVE\s+STATE\nnode-1\s+yes\s+active\n$/);
    assert.deepEqual(JSON.parse(json.stdout), await district('small1'));
  });

  test('show of an unknown district: not found, exit 1', async () => {
    const result = await runCli(['admin', 'district', 'show', 'nope'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "error: district 'nope' not found (field: name)\n");
  });
});

describe('admin node', () => {
  test('list: state, profile, district, placed/max, reported usage, heartbeat age', async () => {
    const result = await runCli(['admin', 'node', 'list'], env);
    assert.equal(result.code, 0, result.stderr);
    const [header, first, second, extra] = result.stdout.trimEnd().split('\n');
    assert.match(header!, /^NAME\s+STATE\s+PROFILE\s+DISTRICT\s+ACTIVE\/MAX\s+USAGE\s+HEARTBEAT$/);
    // Placed: carol's 2 gears; usage: what the heartbeat reported.
    assert.match(first!, /^node-1\s+active\s+small\s+small1\s+2\/100\s+25%\s+(just now|\d+s ago)$/);
    // Registration counts as hearing from a node, so node-2 has an age too (never "never" here).
    assert.match(second!, /^node-2\s+deactivated\s+small\s+-\s+0\/8\s+0%\s+(just now|\d+s ago)$/);
    assert.equal(extra, undefined);
  });

  test('show and --json', async () => {
    const [result, json] = await Promise.all([runCli(['admin', 'node', 'show', 'node-1'], env), runCli(['admin', 'node', 'show', 'node-1', '--json'], env)]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^node:\s+node-1\n/);
    assert.match(result.stdout, /district:\s+small1\n/);
    assert.match(result.stdout, /active gears:\s+2 placed of 100 max/);
    assert.match(result.stdout, /reported gears:\s+24 started, 3 idle, 1 stopped, 1 unknown/);
    assert.match(result.stdout, /last heartbeat:\s+(just now|\d+s ago) \(\d{4}-\d\d-\d\dT/);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), await broker.api('GET', '/nodes/node-1'));
    assert.ok(!json.stdout.includes(node1.credential), 'the node credential is never shown');
  });

  test('show of an unknown node: not found, exit 1', async () => {
    const result = await runCli(['admin', 'node', 'show', 'nosuch'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "error: node 'nosuch' not found (field: name)\n");
  });

  test('app create when every node of the profile is deactivated: no_capacity says why', async () => {
    assert.equal((await runCli(['admin', 'district', 'deactivate-node', 'small1', 'node-1'], env)).code, 0);
    const dave = broker.env((await broker.createUser('dave')).token);
    assert.equal((await runCli(['domain', 'create', 'daves'], dave)).code, 0);
    const result = await runCli(['app', 'create', 'web', 'nodejs'], dave);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "error: no node of profile 'small' can take a gear: 2 nodes are deactivated ('node-1', 'node-2')\n");
    assert.equal((await runCli(['admin', 'district', 'activate-node', 'small1', 'node-1'], env)).code, 0);
  });
});

describe('admin user', () => {
  test('create prints the new token once, with the role and limit; the token works', async () => {
    const result = await runCli(['admin', 'user', 'create', 'bob', '--admin', '--max-gears', '20'], env);
    assert.equal(result.code, 0, result.stderr);
    const match = /^user bob created \(role admin, max 20 gears\)\ntoken: (\S+)\nhand this token to the user \(GEARTIDE_TOKEN\); it is not shown again\n$/.exec(result.stdout);
    assert.ok(match, result.stdout);
    const whoami = await runCli(['whoami'], broker.env(match[1]!));
    assert.match(whoami.stdout, /^bob \(admin\) at .*: 0 of 20 gears used\n$/);
  });

  test('create of an existing login: conflict naming the field', async () => {
    const result = await runCli(['admin', 'user', 'create', 'bob'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "error: user 'bob' already exists (field: login)\n");
  });

  test('list and delete', async () => {
    const list = await runCli(['admin', 'user', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^LOGIN\s+ROLE\s+MAX GEARS\s+CREATED\n/);
    assert.match(list.stdout, /\nadmin\s+admin\s+1000\s+/);
    assert.match(list.stdout, /\nbob\s+admin\s+20\s+/);
    assert.ok(!list.stdout.includes('gt_') && !list.stdout.includes(broker.admin.token), 'no token in a listing');
    const deleted = await runCli(['admin', 'user', 'delete', 'bob'], env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, 'user bob deleted\n');
    assert.equal(lastRequest(), 'DELETE /users/bob');
    const logins = (await broker.api('GET', '/users')).items.map((user: { login: string }) => user.login);
    assert.ok(!logins.includes('bob'), logins.join(', '));
  });
});

describe('admin routers', () => {
  test('none yet, then the routers that asked for the table, and whether moves wait for them', async () => {
    const none = await runCli(['admin', 'routers'], env);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, 'no router has asked for the route table in the last hour\n');
    for (const name of ['edge-b:80/212', 'edge-a:80/101']) {
      const response = await request(`${broker.url}/api/v1/routes`, { headers: { authorization: `Bearer ${ROUTER_TOKEN}`, 'x-geartide-router': name } });
      assert.equal(response.statusCode, 200);
      await response.body.dump();
    }
    const result = await runCli(['admin', 'routers'], env);
    assert.equal(result.code, 0, result.stderr);
    const [header, first, second, extra] = result.stdout.trimEnd().split('\n');
    assert.match(header!, /^NAME\s+LAST SEEN\s+TABLE CURRENT\s+MOVES WAIT FOR IT$/);
    assert.match(first!, /^edge-a:80\/101\s+(just now|\d+s ago)\s+(just now|\d+s ago)\s+yes$/);
    assert.match(second!, /^edge-b:80\/212\s+/);
    assert.equal(extra, undefined);
    assert.equal(lastRequest(), 'GET /routers');
    const json = JSON.parse((await runCli(['admin', 'routers', '--json'], env)).stdout);
    assert.deepEqual(json.items.map((router: { name: string; countedByMoves: boolean }) => [router.name, router.countedByMoves]), [['edge-a:80/101', true], ['edge-b:80/212', true]]);
  });
});
