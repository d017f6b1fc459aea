// Runs the real CLI against the broker-contract TEST DOUBLE in broker-double.ts (not the broker).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, ALICE_TOKEN, startBrokerDouble } from './broker-double.ts';
import type { BrokerDouble } from './broker-double.ts';
import { runCli } from './run-cli.ts';

let broker: BrokerDouble;
before(async () => {
  broker = await startBrokerDouble();
});
after(() => broker.close());

/** A port nothing listens on: bind one, note it, close it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function homeWith(config: string): string {
  const home = mkdtempSync(join(tmpdir(), 'geartide-cli-errors-'));
  writeFileSync(join(home, 'config.json'), config);
  return home;
}

describe('errors: one line on stderr, the right exit code, never the token', () => {
  test('no broker configured: tells to run geartide up or set GEARTIDE_URL', async () => {
    const result = await runCli(['domain', 'list']);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^error: no broker configured: run `geartide up` or set GEARTIDE_URL .*\n$/);
    assert.equal(result.stderr.split('\n').length, 2);
  });

  test('connection refused: says which URL and suggests geartide up', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const result = await runCli(['app', 'list'], { GEARTIDE_URL: url, GEARTIDE_TOKEN: ALICE_TOKEN });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `error: cannot reach the broker at ${url}: is it running? (geartide up)\n`);
  });

  test('broker URL and token come from config.json when the env does not set them', async () => {
    const home = homeWith(JSON.stringify({ brokerUrl: broker.url, routerUrl: 'http://127.0.0.1:1', token: ALICE_TOKEN }));
    const result = await runCli(['whoami'], { GEARTIDE_HOME: home });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `alice (user) at ${broker.url}: 0 of 10 gears used\n`);
  });

  test('GEARTIDE_TOKEN overrides the file', async () => {
    const home = homeWith(JSON.stringify({ brokerUrl: broker.url, token: ALICE_TOKEN }));
    const result = await runCli(['whoami'], { GEARTIDE_HOME: home, GEARTIDE_TOKEN: ADMIN_TOKEN });
    assert.match(result.stdout, /^admin \(admin\)/);
  });

  test('a config.json that is not JSON is a clear error', async () => {
    const home = homeWith('{"brokerUrl": ');
    const result = await runCli(['domain', 'list'], { GEARTIDE_HOME: home });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`^error: ${join(home, 'config.json')} is not valid JSON .*fix or remove it\\n$`));
  });

  test('an unknown token: the broker echoes it, the CLI masks it', async () => {
    const secret = 'gt_stolen_secret_value_123';
    const result = await runCli(['domain', 'list'], { GEARTIDE_URL: broker.url, GEARTIDE_TOKEN: secret });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: token *** is not valid\n');
    assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret));
  });

  test('a token from config.json is masked too', async () => {
    const secret = 'gt_file_secret_value_456';
    const home = homeWith(JSON.stringify({ brokerUrl: broker.url, token: secret }));
    const result = await runCli(['whoami'], { GEARTIDE_HOME: home });
    assert.equal(result.stderr, 'error: token *** is not valid\n');
  });

  test('forbidden: a user running an admin command', async () => {
    const result = await runCli(['admin', 'node', 'list'], { GEARTIDE_URL: broker.url, GEARTIDE_TOKEN: ALICE_TOKEN });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: this needs the admin role\n');
  });

  test('not found', async () => {
    const result = await runCli(['domain', 'delete', 'nosuch'], { GEARTIDE_URL: broker.url, GEARTIDE_TOKEN: ALICE_TOKEN });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "error: domain 'nosuch' not found\n");
  });

  const usage: Record<string, { args: string[]; want: string }> = {
    'a missing argument': { args: ['app', 'create', 'x'], want: "error: missing required argument 'cartridge'\n" },
    'an unknown command': { args: ['frobnicate'], want: "error: unknown command 'frobnicate'\n" },
    'an unknown option': { args: ['domain', 'list', '--nope'], want: "error: unknown option '--nope'\n" },
    'a malformed --scale': { args: ['app', 'create', 'x', 'php', '--scale', '3-1'], want: "error: option '--scale <min:max>' argument '3-1' is invalid. expected MIN:MAX, e.g. 1:3\n" },
    'a non-integer --gears': { args: ['app', 'create', 'x', 'php', '--gears', 'two'], want: "error: option '--gears <n>' argument 'two' is invalid. expected a whole number\n" },
  };
  for (const [name, { args, want }] of Object.entries(usage)) {
    test(`usage error, exit 2: ${name}`, async () => {
      const before = broker.requests.length;
      const result = await runCli(args, { GEARTIDE_URL: broker.url, GEARTIDE_TOKEN: ALICE_TOKEN });
      assert.equal(result.code, 2);
      assert.equal(result.stderr, want);
      assert.equal(broker.requests.length, before, 'nothing sent to the broker');
    });
  }

  test('--help exits 0 and needs no broker', async () => {
    const result = await runCli(['app', 'create', '--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /--scale <min:max>/);
  });
});
