// Runs the real CLI against the broker-contract TEST DOUBLE in broker-double.ts (not the broker).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

describe('whoami and token', () => {
  test('whoami names the user, role, broker and gear usage, never the token', async () => {
    const result = await runCli(['whoami'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `alice (user) at ${broker.url}: 0 of 10 gears used\n`);
    assert.ok(!result.stdout.includes(ALICE_TOKEN));
    const json = await runCli(['whoami', '--json'], env);
    assert.deepEqual(JSON.parse(json.stdout), { id: 'u-alice', login: 'alice', role: 'user', maxGears: 10, gearsUsed: 0 });
  });

  test('token create with --name and --expires-in prints the new token once', async () => {
    const result = await runCli(['token', 'create', '--name', 'ci', '--expires-in', '3600'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(broker.requests.at(-1)!.body, { name: 'ci', expiresInSeconds: 3600 });
    assert.match(result.stdout, /^token tok-\d+ \(ci, expires 2025-01-02T04:04:05.000Z\) created\ntoken: gt_new_\S+\nit is not shown again\n$/);
  });

  test('token list shows ids and names, never secrets; token delete revokes', async () => {
    const list = await runCli(['token', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID\s+NAME\s+CREATED\s+EXPIRES\nt-alice\s+default\s+\S+\s+never\n(tok-\d+)\s+ci\s+/);
    assert.ok(!list.stdout.includes('gt_'));
    const id = /\n(tok-\d+)\s+ci/.exec(list.stdout)![1]!;
    const deleted = await runCli(['token', 'delete', id], env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `token ${id} deleted\n`);
    assert.equal(broker.requests.at(-1)!.path, `/user/tokens/${id}`);
  });

  test('token create --save stores the token in config.json (0600) and does not print it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'geartide-cli-token-'));
    writeFileSync(join(home, 'config.json'), JSON.stringify({ brokerUrl: broker.url, token: ALICE_TOKEN }));
    const result = await runCli(['token', 'create', '--save'], { GEARTIDE_HOME: home });
    assert.equal(result.code, 0, result.stderr);
    const saved = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { brokerUrl: string; token: string };
    assert.equal(saved.brokerUrl, broker.url);
    assert.notEqual(saved.token, ALICE_TOKEN);
    assert.ok(!result.stdout.includes(saved.token));
    assert.match(result.stdout, /saved to .*config\.json\n$/);
    assert.equal(statSync(join(home, 'config.json')).mode & 0o777, 0o600);
    // The saved token works.
    const whoami = await runCli(['whoami'], { GEARTIDE_HOME: home });
    assert.match(whoami.stdout, /^alice /);
  });
});
