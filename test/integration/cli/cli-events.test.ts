// Runs the real CLI against the broker-contract TEST DOUBLE in broker-double.ts (not the broker).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ALICE_TOKEN, startBrokerDouble } from './broker-double.ts';
import type { BrokerDouble } from './broker-double.ts';
import { runCli, startCli } from './run-cli.ts';

let broker: BrokerDouble;
let env: Record<string, string>;
before(async () => {
  broker = await startBrokerDouble();
  env = { GEARTIDE_URL: broker.url, GEARTIDE_TOKEN: ALICE_TOKEN };
  broker.addEvent({ kind: 'app.created', severity: 'info', subject: 'app:demo/hello', message: 'app hello created with 1 gear' });
  broker.addEvent({ kind: 'node.lost', severity: 'warning', subject: 'node:node-1', message: 'node-1 missed its heartbeats' });
});
after(() => broker.close());

/** Resolves once `read()` satisfies `done`, polling: the CLI prints asynchronously. */
async function until(read: () => string, done: (text: string) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!done(read())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got:\n${read()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('events', () => {
  test('one line per event: time severity kind subject message', async () => {
    const result = await runCli(['events'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      [
        '2025-01-02T03:04:00.000Z info app.created app:demo/hello app hello created with 1 gear',
        '2025-01-02T03:04:01.000Z warning node.lost node:node-1 node-1 missed its heartbeats',
        '',
      ].join('\n'),
    );
  });

  test('--after, --kind and --limit become query parameters; --json prints the API list', async () => {
    const result = await runCli(['events', '--after', '1', '--kind', 'node.lost', '--limit', '5', '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const request = broker.requests.at(-1)!;
    assert.equal(request.query.get('after'), '1');
    assert.equal(request.query.get('kind'), 'node.lost');
    assert.equal(request.query.get('limit'), '5');
    assert.deepEqual((JSON.parse(result.stdout) as { items: { id: number }[] }).items.map((event) => event.id), [2]);
  });

  test('--follow prints live events, reconnects with Last-Event-ID after a drop, exits 0 on Ctrl-C', async () => {
    const { child, done } = startCli(['events', '--follow', '--after', '1'], env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (text: string) => (stdout += text));
    child.stderr!.on('data', (text: string) => (stderr += text));

    const first = await broker.streamOpened(1);
    assert.equal(first.query.get('follow'), 'true');
    assert.equal(first.query.get('after'), '1');
    assert.equal(first.headers.accept, 'text/event-stream');
    assert.equal(first.headers.authorization, `Bearer ${ALICE_TOKEN}`);
    await until(() => stdout, (text) => text.includes('node.lost'), 'the replayed event after id 1');
    assert.ok(!stdout.includes('app.created'), 'event 1 is not after 1');

    broker.addEvent({ kind: 'gear.started', severity: 'info', subject: 'gear:g-1', message: 'gear g-1 started' });
    await until(() => stdout, (text) => text.includes('gear.started'), 'a live event');

    // The broker goes away mid-stream; the CLI resumes from the last id it printed.
    broker.dropStreams();
    const second = await broker.streamOpened(2);
    assert.equal(second.headers['last-event-id'], '3');
    assert.match(stderr, /^warning: event stream dropped .*reconnecting/);
    broker.addEvent({ kind: 'node.recovered', severity: 'info', subject: 'node:node-1', message: 'node-1 is back' });
    await until(() => stdout, (text) => text.includes('node.recovered'), 'an event after the reconnect');

    child.kill('SIGINT');
    const result = await done;
    assert.equal(result.code, 0);
    const kinds = stdout.trimEnd().split('\n').map((line) => line.split(' ')[2]);
    assert.deepEqual(kinds, ['node.lost', 'gear.started', 'node.recovered'], 'each event once, in order');
    assert.ok(!stderr.includes('error:'), stderr);
  });

  test('--follow with a bad token fails at once instead of retrying', async () => {
    const result = await runCli(['events', '--follow'], { ...env, GEARTIDE_TOKEN: 'gt_wrong_token_000' });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: token *** is not valid\n');
  });
});
