// Runs the real CLI against the broker-contract TEST DOUBLE in broker-double.ts (not the broker).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ALICE_TOKEN, startBrokerDouble } from './broker-double.ts';
import type { BrokerDouble } from './broker-double.ts';
import { runCli } from './run-cli.ts';

let broker: BrokerDouble;
let env: Record<string, string>;
before(async () => {
  broker = await startBrokerDouble();
  env = { GEARTIDE_URL: broker.url, GEARTIDE_TOKEN: ALICE_TOKEN };
});
after(() => broker.close());

describe('domain and app commands', () => {
  test('domain create sends the bearer token and prints a line', async () => {
    const result = await runCli(['domain', 'create', 'demo'], env);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    assert.equal(result.stdout, 'domain demo created\n');
    const request = broker.requests.at(-1)!;
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/domains');
    assert.deepEqual(request.body, { name: 'demo' });
    assert.equal(request.headers.authorization, `Bearer ${ALICE_TOKEN}`);
  });

  test('domain list prints a table; --json prints the API JSON', async () => {
    const table = await runCli(['domain', 'list'], env);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^NAME\s+OWNER\s+CREATED\ndemo\s+alice\s+2025-01-02T03:04:05.000Z\n$/);
    const json = await runCli(['domain', 'list', '--json'], env);
    assert.equal(json.code, 0);
    assert.deepEqual(JSON.parse(json.stdout), { items: [{ id: broker.state.domains.get('demo')!.id, name: 'demo', owner: 'alice', createdAt: '2025-01-02T03:04:05.000Z' }] });
  });

  test('app create with --scale, --gears and --profile in the only domain (no -n needed)', async () => {
    const result = await runCli(['app', 'create', 'hello', 'nodejs', '--scale', '1:3', '--gears', '2', '--profile', 'small'], env);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    const create = broker.requests.find((request) => request.method === 'POST' && request.path === '/domains/demo/apps')!;
    assert.deepEqual(create.body, { name: 'hello', cartridge: 'nodejs', gears: 2, scale: { min: 1, max: 3 }, gearProfile: 'small' });
    assert.match(result.stdout, /^app hello created in domain demo: http:\/\/hello-demo\.apps\.test\n/);
    assert.match(result.stdout, /GEAR\s+UID\s+NODE\s+STATE\s+ENDPOINT/);
  });

  test('app show: URL, state and a gears table with id, uid, node, state, endpoint', async () => {
    const result = await runCli(['app', 'show', 'hello', '-n', 'demo'], env);
    assert.equal(result.code, 0);
    const [first, second] = broker.state.apps.get('demo/hello')!.gears;
    assert.match(result.stdout, /url:\s+http:\/\/hello-demo\.apps\.test/);
    assert.match(result.stdout, /state:\s+started/);
    assert.match(result.stdout, /scale:\s+1\.\.3 gears/);
    assert.match(result.stdout, new RegExp(`${first!.id}\\s+1000\\s+node-1\\s+started\\s+127\\.0\\.0\\.1:35000`));
    // A gear not yet running shows the gap between observed and desired; no endpoint yet is a dash.
    assert.match(result.stdout, new RegExp(`${second!.id}\\s+1001\\s+node-2\\s+new \\(want started\\)\\s+-`));
  });

  test('app show --json is the App object as the API sent it', async () => {
    const result = await runCli(['app', 'show', 'hello', '--json'], env);
    assert.equal(result.code, 0);
    assert.deepEqual(JSON.parse(result.stdout), broker.state.apps.get('demo/hello'));
  });

  test('app list without -n lists every visible app (GET /apps)', async () => {
    const result = await runCli(['app', 'list'], env);
    assert.equal(result.code, 0);
    assert.equal(broker.requests.at(-1)!.path, '/apps');
    assert.match(result.stdout, /^NAME\s+DOMAIN\s+CARTRIDGE\s+GEARS\s+SCALE\s+STATE\s+URL\nhello\s+demo\s+nodejs\s+2\s+1\.\.3\s+started\s+http:\/\/hello-demo\.apps\.test\n$/);
  });

  test('app stop, start and restart post to their endpoints', async () => {
    for (const [action, want] of [['stop', /stop requested; desired state stopped, 2 gears/], ['start', /start requested; desired state started/], ['restart', /restart requested/]] as const) {
      const result = await runCli(['app', action, 'hello'], env);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, want);
      assert.equal(broker.requests.at(-1)!.path, `/domains/demo/apps/hello/${action}`);
    }
    assert.equal(broker.state.apps.get('demo/hello')!.restartGeneration, 1);
  });

  test('app scale N sends {gears}', async () => {
    const result = await runCli(['app', 'scale', 'hello', '3'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(broker.requests.at(-1)!.body, { gears: 3 });
    assert.match(result.stdout, /scale 1\.\.3, 3 gears/);
  });

  test('app scale --max alone keeps the current min (the API takes both)', async () => {
    const result = await runCli(['app', 'scale', 'hello', '--max', '5'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(broker.requests.at(-1)!.body, { min: 1, max: 5 });
    assert.match(result.stdout, /scale 1\.\.5/);
  });

  test('app scale with neither N nor --min/--max is a usage error (exit 2), nothing sent', async () => {
    const before = broker.requests.length;
    const result = await runCli(['app', 'scale', 'hello'], env);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: give a number of gears (app scale NAME N) or --min/--max\n');
    assert.equal(broker.requests.length, before);
  });

  test('a broker input error names its field on one stderr line, exit 1', async () => {
    const result = await runCli(['app', 'scale', 'hello', '9'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'error: gears must be within 1..5 (field: gears)\n');
  });

  test('with two domains and no -n, app commands ask for -n (exit 2)', async () => {
    assert.equal((await runCli(['domain', 'create', 'other'], env)).code, 0);
    const result = await runCli(['app', 'show', 'hello'], env);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'error: you own 2 domains (demo, other): choose one with -n DOMAIN\n');
  });

  test('domain delete of a domain with apps fails with the broker message; app delete then domain delete work', async () => {
    const refused = await runCli(['domain', 'delete', 'demo'], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, "error: domain 'demo' still holds apps\n");
    const deleted = await runCli(['app', 'delete', 'hello', '-n', 'demo'], env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, 'app hello deleted from domain demo\n');
    const gone = await runCli(['domain', 'delete', 'demo'], env);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal(gone.stdout, 'domain demo deleted\n');
  });

  test('app create on a full platform reports the exhaustion with its field', async () => {
    const result = await runCli(['app', 'create', 'big', 'nocapacity', '-n', 'other'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: no node host of profile small has room for a gear (field: gearProfile)\n');
  });
});
