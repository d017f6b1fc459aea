// The real CLI (bin/geartide.js, a child process) against the real broker (cli-broker.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startCliBroker, type CliBroker, type CliBrokerUser } from './cli-broker.ts';
import { runCli } from './run-cli.ts';

let broker: CliBroker;
let alice: CliBrokerUser;
let env: Record<string, string>;
const homes: string[] = [];
before(async () => {
  broker = await startCliBroker();
  alice = await broker.createUser('alice', { maxGears: 10 });
  env = broker.env(alice.token);
});
after(async () => {
  await broker?.close();
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

describe('whoami and token', () => {
  test('whoami names the user, role, broker and gear usage, never the token', async () => {
    const [result, json] = await Promise.all([runCli(['whoami'], env), runCli(['whoami', '--json'], env)]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `alice (user) at ${broker.url}: 0 of 10 gears used\n`);
    assert.ok(!result.stdout.includes(alice.token) && !json.stdout.includes(alice.token));
    // --json is GET /user as the broker answered it.
    assert.deepEqual(JSON.parse(json.stdout), await broker.api('GET', '/user', { token: alice.token }));
    assert.equal(JSON.parse(json.stdout).id, alice.id);
  });

  test('token create with --name and --expires-in prints the new token once, and it works', async () => {
    const sent = Date.now();
    const result = await runCli(['token', 'create', '--name', 'ci', '--expires-in', '3600'], env);
    assert.equal(result.code, 0, result.stderr);
    const match = /^token (\S+) \(ci, expires (\S+)\) created\ntoken: (\S+)\nit is not shown again\n$/.exec(result.stdout);
    assert.ok(match, result.stdout);
    const [, id, expiresAt, token] = match;
    // The broker turned --expires-in into an expiry an hour from now.
    const expiry = Date.parse(expiresAt!);
    assert.ok(expiry >= sent + 3_599_000 && expiry <= Date.now() + 3_601_000, expiresAt);
    const listed = (await broker.api('GET', '/user/tokens', { token: alice.token })).items as { id: string; name: string; expiresAt: string }[];
    const row = listed.find((each) => each.id === id);
    assert.deepEqual([row?.name, row?.expiresAt], ['ci', expiresAt]);
    const whoami = await runCli(['whoami'], { ...env, GEARTIDE_TOKEN: token! });
    assert.match(whoami.stdout, /^alice \(user\)/);
  });

  test('token list shows ids and names, never secrets; token delete revokes', async () => {
    const list = await runCli(['token', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    const tokens = (await broker.api('GET', '/user/tokens', { token: alice.token })).items as { id: string; name: string }[];
    const initial = tokens.find((each) => each.name === 'initial')!;
    const ci = tokens.find((each) => each.name === 'ci')!;
    assert.match(list.stdout, new RegExp(`^ID\\s+NAME\\s+CREATED\\s+EXPIRES\\n${initial.id}\\s+initial\\s+\\S+\\s+never\\n${ci.id}\\s+ci\\s+\\S+\\s+\\S+Z\\n$`));
    assert.ok(!list.stdout.includes('gt_') && !list.stdout.includes(alice.token));

    const deleted = await runCli(['token', 'delete', ci.id], env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `token ${ci.id} deleted\n`);
    assert.deepEqual(((await broker.api('GET', '/user/tokens', { token: alice.token })).items as { id: string }[]).map((each) => each.id), [initial.id]);
    const again = await runCli(['token', 'delete', ci.id], env);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, `error: token '${ci.id}' not found (field: id)\n`);
  });

  test('token create --save stores the token in config.json (0600) and does not print it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'geartide-cli-token-'));
    homes.push(home);
    writeFileSync(join(home, 'config.json'), JSON.stringify({ brokerUrl: broker.url, token: alice.token }));
    const result = await runCli(['token', 'create', '--save'], { GEARTIDE_HOME: home });
    assert.equal(result.code, 0, result.stderr);
    const saved = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { brokerUrl: string; token: string };
    assert.equal(saved.brokerUrl, broker.url);
    assert.notEqual(saved.token, alice.token);
    assert.ok(!result.stdout.includes(saved.token));
    assert.match(result.stdout, /^token \S+ \(cli, never expires\) saved to .*config\.json\n$/);
    assert.equal(statSync(join(home, 'config.json')).mode & 0o777, 0o600);
    // The saved token is one the broker accepts.
    const whoami = await runCli(['whoami'], { GEARTIDE_HOME: home });
    assert.match(whoami.stdout, /^alice /);
  });
});
