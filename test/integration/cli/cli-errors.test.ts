// The real CLI (bin/geartide.js, a child process) against the real broker (cli-broker.ts); one
// test uses a labelled node:http stub for what the real broker never does (echo a token).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../support/broker-process.ts';
import { startCliBroker, type CliBroker } from './cli-broker.ts';
import { runCli } from './run-cli.ts';

let broker: CliBroker;
let aliceToken: string;
let adminToken: string;
const homes: string[] = [];
before(async () => {
  broker = await startCliBroker();
  aliceToken = (await broker.createUser('alice', { maxGears: 10 })).token;
  adminToken = broker.admin.token;
});
after(async () => {
  await broker?.close();
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

function homeWith(config: string): string {
  const home = mkdtempSync(join(tmpdir(), 'geartide-cli-errors-'));
  homes.push(home);
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
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await runCli(['app', 'list'], { GEARTIDE_URL: url, GEARTIDE_TOKEN: aliceToken });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `error: cannot reach the broker at ${url}: is it running? (geartide up)\n`);
  });

  test('broker URL and token come from config.json when the env does not set them', async () => {
    const home = homeWith(JSON.stringify({ brokerUrl: broker.url, routerUrl: 'http://127.0.0.1:1', token: aliceToken }));
    const result = await runCli(['whoami'], { GEARTIDE_HOME: home });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `alice (user) at ${broker.url}: 0 of 10 gears used\n`);
  });

  test('GEARTIDE_TOKEN overrides the file', async () => {
    const home = homeWith(JSON.stringify({ brokerUrl: broker.url, token: aliceToken }));
    const result = await runCli(['whoami'], { GEARTIDE_HOME: home, GEARTIDE_TOKEN: adminToken });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^admin \(admin\)/);
  });

  test('a config.json that is not JSON is a clear error', async () => {
    const home = homeWith('{"brokerUrl": ');
    const result = await runCli(['domain', 'list'], { GEARTIDE_HOME: home });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`^error: ${join(home, 'config.json')} is not valid JSON .*fix or remove it\\n$`));
  });

  test('an unknown token: refused in one line, the token never printed', async () => {
    const secret = 'gt_stolen_secret_value_123';
    const result = await runCli(['domain', 'list'], { GEARTIDE_URL: broker.url, GEARTIDE_TOKEN: secret });
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'error: unknown or expired token\n');
    const request = broker.requests.filter((each) => each.path === '/domains').at(-1)!;
    assert.equal(request.headers.authorization, `Bearer ${secret}`, 'the token went to the broker, only there');
  });

  test('a broker that echoes the token back: the CLI masks it, from the env and from config.json', async (t) => {
    // STUB, not the broker: the real broker never echoes a token, but the CLI must mask one
    // whatever a broker (or a proxy in front of it) says. A minimal node:http server answering
    // every request with a 401 that quotes the bearer token.
    const stub = createHttpServer((request, response) => {
      const token = (request.headers.authorization ?? '').replace(/^Bearer /, '');
      response.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unauthenticated', message: `token ${token} is not valid` } }));
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => {
      stub.closeAllConnections();
      stub.close(() => resolve());
    }));
    const stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;

    const fromEnv = 'gt_stolen_secret_value_123';
    const viaEnv = await runCli(['domain', 'list'], { GEARTIDE_URL: stubUrl, GEARTIDE_TOKEN: fromEnv });
    assert.equal(viaEnv.code, 1);
    assert.equal(viaEnv.stderr, 'error: token *** is not valid\n');
    assert.ok(!viaEnv.stdout.includes(fromEnv) && !viaEnv.stderr.includes(fromEnv));

    const fromFile = 'gt_file_secret_value_456';
    const viaFile = await runCli(['whoami'], { GEARTIDE_HOME: homeWith(JSON.stringify({ brokerUrl: stubUrl, token: fromFile })) });
    assert.equal(viaFile.code, 1);
    assert.equal(viaFile.stderr, 'error: token *** is not valid\n');
  });

  test('forbidden: a user running an admin command', async () => {
    const result = await runCli(['admin', 'node', 'list'], { GEARTIDE_URL: broker.url, GEARTIDE_TOKEN: aliceToken });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: this endpoint needs the admin role\n');
  });

  test('not found', async () => {
    const result = await runCli(['domain', 'delete', 'nosuch'], { GEARTIDE_URL: broker.url, GEARTIDE_TOKEN: aliceToken });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "error: domain 'nosuch' not found (field: domain)\n");
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
      const result = await runCli(args, { GEARTIDE_URL: broker.url, GEARTIDE_TOKEN: aliceToken });
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
