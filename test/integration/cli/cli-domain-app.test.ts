// The real CLI (bin/geartide.js, a child process) against the real broker (cli-broker.ts): a user's
// domains and apps, placed on two registered nodes of a district.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCliBroker, type CliBroker, type CliBrokerNode, type CliBrokerUser } from './cli-broker.ts';
import { runCli } from './run-cli.ts';

let broker: CliBroker;
let alice: CliBrokerUser;
let env: Record<string, string>;
let nodes: CliBrokerNode[];
before(async () => {
  broker = await startCliBroker();
  alice = await broker.createUser('alice', { maxGears: 10 });
  env = broker.env(alice.token);
  await broker.api('POST', '/districts', { body: { name: 'small1', gearProfile: 'small' } });
  nodes = [await broker.registerNode('node-1', { district: 'small1' }), await broker.registerNode('node-2', { district: 'small1' })];
});
after(() => broker?.close());

interface ApiGear {
  id: string;
  uid: number;
  node: string;
  desiredState: string;
  observedState: string;
}

const appJson = (name: string, domain = 'demo') => broker.api('GET', `/domains/${domain}/apps/${name}`, { token: alice.token });

describe('domain and app commands', () => {
  test('domain create sends the bearer token and prints a line', async () => {
    const result = await runCli(['domain', 'create', 'demo'], env);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    assert.equal(result.stdout, 'domain demo created\n');
    const request = broker.requests.filter((each) => each.method === 'POST' && each.path === '/domains').at(-1)!;
    assert.equal(request.headers.authorization, `Bearer ${alice.token}`);
    assert.deepEqual((await broker.api('GET', '/domains/demo', { token: alice.token })).owner, 'alice');
  });

  test('domain list prints a table; --json prints the API JSON', async () => {
    const [table, json] = await Promise.all([runCli(['domain', 'list'], env), runCli(['domain', 'list', '--json'], env)]);
    assert.equal(table.code, 0, table.stderr);
    const [domain] = (await broker.api('GET', '/domains', { token: alice.token })).items;
    assert.equal(table.stdout, `NAME  OWNER  CREATED\ndemo  alice  ${domain.createdAt}\n`);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { items: [domain] });
  });

  test('app create with both --gears and --scale: the broker refuses, naming the field, and nothing is created', async () => {
    const result = await runCli(['app', 'create', 'hello', 'nodejs', '--scale', '1:3', '--gears', '2'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'error: give either gears (a fixed count) or scale (a range), not both (field: scale)\n');
    assert.deepEqual((await broker.api('GET', '/apps', { token: alice.token })).items, []);
  });

  test('app create with --gears and --profile in the only domain (no -n needed): gears spread over both nodes', async () => {
    const result = await runCli(['app', 'create', 'hello', 'nodejs', '--gears', '2', '--profile', 'small'], env);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^app hello created in domain demo: http:\/\/hello-demo\.apps\.test\/\n/);
    assert.match(result.stdout, /GEAR\s+UID\s+NODE\s+STATE\s+ENDPOINT/);
    const app = await appJson('hello');
    assert.deepEqual([app.cartridge, app.gearProfile, app.scale], ['nodejs', 'small', { min: 2, max: 2 }]);
    assert.deepEqual(app.gears.map((gear: ApiGear) => gear.node).sort(), ['node-1', 'node-2']);
    for (const gear of app.gears as ApiGear[]) assert.match(result.stdout, new RegExp(`${gear.id}\\s+${gear.uid}\\s+${gear.node}\\s+new \\(want started\\)\\s+-`));
  });

  test('app show: URL, state and a gears table with id, uid, node, state, endpoint', async () => {
    const [first, second] = (await appJson('hello')).gears as ApiGear[];
    // The first gear's node agent reports it running; the second is not started yet.
    await broker.reportGear(nodes.find((node) => node.name === first!.node)!, first!.id, 'started', '127.0.0.1:35000');
    const result = await runCli(['app', 'show', 'hello', '-n', 'demo'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /url:\s+http:\/\/hello-demo\.apps\.test\//);
    assert.match(result.stdout, /state:\s+started/);
    assert.match(result.stdout, /scale:\s+2\.\.2 gears/);
    assert.match(result.stdout, new RegExp(`${first!.id}\\s+${first!.uid}\\s+${first!.node}\\s+started\\s+127\\.0\\.0\\.1:35000`));
    // A gear not yet running shows the gap between observed and desired; no endpoint yet is a dash.
    assert.match(result.stdout, new RegExp(`${second!.id}\\s+${second!.uid}\\s+${second!.node}\\s+new \\(want started\\)\\s+-`));
  });

  test('app show --json is the App object as the API sent it', async () => {
    const result = await runCli(['app', 'show', 'hello', '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), await appJson('hello'));
  });

  test('app list without -n lists every visible app (GET /apps)', async () => {
    const result = await runCli(['app', 'list'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(broker.requests.some((request) => request.method === 'GET' && request.path === '/apps' && request.headers.authorization === `Bearer ${alice.token}`));
    assert.match(result.stdout, /^NAME\s+DOMAIN\s+CARTRIDGE\s+GEARS\s+SCALE\s+STATE\s+URL\nhello\s+demo\s+nodejs\s+2\s+2\.\.2\s+started\s+http:\/\/hello-demo\.apps\.test\/\n$/);
  });

  test('app stop, restart (refused while stopped), start and restart change what the broker holds', async () => {
    const stop = await runCli(['app', 'stop', 'hello'], env);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, 'app hello (domain demo): stop requested; desired state stopped, 2 gears\n');
    assert.deepEqual((await appJson('hello')).gears.map((gear: ApiGear) => gear.desiredState), ['stopped', 'stopped']);

    const refused = await runCli(['app', 'restart', 'hello'], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, 'error: app hello is stopped; start it instead of restarting it (field: app)\n');

    const start = await runCli(['app', 'start', 'hello'], env);
    assert.equal(start.code, 0, start.stderr);
    assert.equal(start.stdout, 'app hello (domain demo): start requested; desired state started, 2 gears\n');
    const restart = await runCli(['app', 'restart', 'hello'], env);
    assert.equal(restart.code, 0, restart.stderr);
    assert.equal(restart.stdout, 'app hello (domain demo): restart requested; desired state started, 2 gears\n');
    const app = await appJson('hello');
    assert.equal(app.desiredState, 'started');
    assert.equal(app.restartGeneration, 1);
  });

  test('app scale N sets a fixed count of N gears, placed on the nodes', async () => {
    const result = await runCli(['app', 'scale', 'hello', '3'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'app hello (domain demo): scale 3..3, 3 gears\n');
    const app = await appJson('hello');
    assert.equal(app.gears.length, 3);
    assert.deepEqual([...new Set(app.gears.map((gear: ApiGear) => gear.node))].sort(), ['node-1', 'node-2']);
  });

  test('app scale --max alone keeps the current min (the API takes both)', async () => {
    const result = await runCli(['app', 'scale', 'hello', '--max', '5'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'app hello (domain demo): scale 3..5, 3 gears\n');
    assert.deepEqual((await appJson('hello')).scale, { min: 3, max: 5 });
  });

  test('app scale with neither N nor --min/--max is a usage error (exit 2), nothing sent', async () => {
    const before = broker.requests.length;
    const result = await runCli(['app', 'scale', 'hello'], env);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: give a number of gears (app scale NAME N) or --min/--max\n');
    assert.equal(broker.requests.length, before);
  });

  test('broker refusals print one stderr line naming the field, exit 1', async () => {
    const cases: { args: string[]; want: string }[] = [
      // The gear limit: 11 gears for a user who may own 10.
      { args: ['app', 'scale', 'hello', '11'], want: 'error: user alice may own 10 gear(s) and has 3; 8 more would exceed the limit (field: gears)\n' },
      // Request validation: app names are lower-case.
      { args: ['app', 'create', 'Hello', 'nodejs'], want: 'error: name has an invalid format (lower-case letters and digits only, 1 to 32 characters) (field: name)\n' },
      { args: ['app', 'create', 'hello', 'nodejs'], want: "error: app 'hello' already exists in this domain (field: name)\n" },
      { args: ['app', 'create', 'php', 'php'], want: "error: cartridge 'php' is not offered here; choose one of: nodejs, static (field: cartridge)\n" },
    ];
    const results = await Promise.all(cases.map(({ args }) => runCli(args, env)));
    for (const [index, result] of results.entries()) {
      assert.equal(result.code, 1, cases[index]!.args.join(' '));
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, cases[index]!.want);
    }
    assert.equal((await appJson('hello')).gears.length, 3, 'the refused scale changed nothing');
  });

  test('with two domains and no -n, app commands ask for -n (exit 2)', async () => {
    assert.equal((await runCli(['domain', 'create', 'other'], env)).code, 0);
    const result = await runCli(['app', 'show', 'hello'], env);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: you own 2 domains (demo, other): choose one with -n DOMAIN\n');
  });

  test('app create with no node of the profile: the no_capacity reason naming the profile, exit 1, no app', async () => {
    const result = await runCli(['app', 'create', 'big', 'nodejs', '-n', 'other', '--profile', 'medium'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, "error: no node of profile 'medium' can take a gear: there is no node host of profile 'medium' and no district of that profile\n");
    assert.deepEqual((await broker.api('GET', '/domains/other/apps', { token: alice.token })).items, []);
  });

  test('domain delete of a domain with apps fails with the broker message; app delete then domain delete work', async () => {
    const refused = await runCli(['domain', 'delete', 'demo'], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, "error: domain still has app 'hello'; delete its apps first\n");
    const deleted = await runCli(['app', 'delete', 'hello', '-n', 'demo'], env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, 'app hello deleted from domain demo\n');
    assert.deepEqual((await broker.api('GET', '/apps', { token: alice.token })).items, []);
    const gone = await runCli(['domain', 'delete', 'demo'], env);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal(gone.stdout, 'domain demo deleted\n');
    assert.deepEqual((await broker.api('GET', '/domains', { token: alice.token })).items.map((domain: { name: string }) => domain.name), ['other']);
  });
});
