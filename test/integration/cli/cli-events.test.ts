// The real CLI (bin/geartide.js, a child process) against the real broker (cli-broker.ts),
// restarted on the same port and store while `events --follow` runs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCliBroker, type CliBroker, type CliBrokerUser } from './cli-broker.ts';
import { runCli, startCli } from './run-cli.ts';

interface ApiEvent {
  id: number;
  time: string;
  kind: string;
  severity: string;
  subject: string;
  message: string;
}

let broker: CliBroker;
let alice: CliBrokerUser;
let env: Record<string, string>;
/** alice's events so far: domain.created, app.created (node and district events are not hers). */
let seeded: ApiEvent[];
before(async () => {
  broker = await startCliBroker();
  alice = await broker.createUser('alice');
  env = broker.env(alice.token);
  await broker.api('POST', '/districts', { body: { name: 'small1' } });
  await broker.registerNode('node-1', { district: 'small1' });
  await broker.api('POST', '/domains', { token: alice.token, body: { name: 'demo' } });
  await broker.api('POST', '/domains/demo/apps', { token: alice.token, body: { name: 'hello', cartridge: 'nodejs' } });
  seeded = (await broker.api('GET', '/events', { token: alice.token })).items;
});
after(() => broker?.close());

const line = (event: ApiEvent) => `${event.time} ${event.severity} ${event.kind} ${event.subject} ${event.message}`;

/** Resolves once `read()` satisfies `done`, polling: the CLI prints asynchronously. */
async function until(read: () => string, done: (text: string) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!done(read())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got:\n${read()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('events', () => {
  test('one line per event: time severity kind subject message (only the caller’s events)', async () => {
    assert.deepEqual(seeded.map((event) => event.kind), ['domain.created', 'app.created']);
    const result = await runCli(['events'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, seeded.map((event) => `${line(event)}\n`).join(''));
    assert.match(result.stdout, /^\d{4}-\d\d-\d\dT\S+Z info domain\.created domain:demo domain demo created by alice\n/);
  });

  test('--after, --kind and --limit become query parameters; --json prints the API list', async () => {
    const [domainCreated, appCreated] = seeded;
    const [filtered, limited] = await Promise.all([
      runCli(['events', '--after', String(domainCreated!.id - 1), '--kind', 'app.created', '--limit', '5', '--json'], env),
      runCli(['events', '--limit', '1', '--json'], env),
    ]);
    assert.equal(filtered.code, 0, filtered.stderr);
    const request = broker.requests.find((each) => each.path === '/events' && each.query.get('kind') === 'app.created')!;
    assert.deepEqual([request.query.get('after'), request.query.get('limit')], [String(domainCreated!.id - 1), '5']);
    assert.deepEqual(JSON.parse(filtered.stdout), { items: [appCreated] });
    assert.deepEqual(JSON.parse(limited.stdout), { items: [appCreated] }, 'without --after, the latest');
    const newest = broker.requests.find((each) => each.path === '/events' && each.query.get('limit') === '1')!;
    assert.equal(newest.query.get('newest'), 'true');
    assert.equal(request.query.get('newest'), null, 'with --after, the events after it');
  });

  test('--follow prints live events, resumes with Last-Event-ID after a broker restart, exits 0 on Ctrl-C', async () => {
    const [domainCreated] = seeded;
    const { child, done } = startCli(['events', '--follow', '--after', String(domainCreated!.id)], env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (text: string) => (stdout += text));
    child.stderr!.on('data', (text: string) => (stderr += text));
    try {
      const first = await broker.streamOpened(1);
      assert.equal(first.query.get('after'), String(domainCreated!.id));
      assert.equal(first.headers.accept, 'text/event-stream');
      assert.equal(first.headers.authorization, `Bearer ${alice.token}`);
      await until(() => stdout, (text) => text.includes('app.created'), 'the replayed event after --after');
      assert.ok(!stdout.includes('domain.created'), 'the event of --after itself is not printed');

      await broker.api('POST', '/domains/demo/apps/hello/stop', { token: alice.token });
      await until(() => stdout, (text) => text.includes('app.stopped'), 'a live event');
      const stopped = (await broker.api('GET', '/events?kind=app.stopped', { token: alice.token })).items[0] as ApiEvent;

      // The broker stops (cutting the stream) and comes back on the same port and store. An event
      // recorded before the CLI reconnects must still reach it: the resume starts after the last
      // id it printed, not at "now".
      await broker.restart();
      await broker.api('POST', '/domains/demo/apps/hello/start', { token: alice.token });
      const second = await broker.streamOpened(2);
      assert.equal(second.headers['last-event-id'], String(stopped.id));
      await until(() => stdout, (text) => text.includes('app.started'), 'the event recorded across the restart');
      assert.match(stderr, /^warning: event stream dropped .*reconnecting/);
      assert.equal(stderr.split('\n').filter((text) => text.startsWith('warning:')).length, 1, 'one warning per outage');
    } finally {
      child.kill('SIGINT');
    }
    const result = await done;
    assert.equal(result.code, 0, stderr);
    const all = (await broker.api('GET', '/events', { token: alice.token })).items as ApiEvent[];
    assert.equal(stdout, all.slice(1).map((event) => `${line(event)}\n`).join(''), 'each event once, in order, as the API has it');
    assert.deepEqual(all.slice(1).map((event) => event.kind), ['app.created', 'app.stopped', 'app.started']);
    assert.ok(!stderr.includes('error:'), stderr);
  });

  test('--follow with a bad token fails at once instead of retrying', async () => {
    const result = await runCli(['events', '--follow'], { ...env, GEARTIDE_TOKEN: 'gt_wrong_token_000' });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'error: unknown or expired token\n');
  });
});
