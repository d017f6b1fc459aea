// The real CLI (bin/geartide.js, a child process) against the real broker (cli-broker.ts):
// `app create --from DIR` and `app deploy --from DIR` pack, upload and run an app's own source.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';

import { Parser } from 'tar';

import { startCliBroker, type CliBroker, type CliBrokerNode, type CliBrokerUser } from './cli-broker.ts';
import { runCli } from './run-cli.ts';

let broker: CliBroker;
let alice: CliBrokerUser;
let env: Record<string, string>;
let node: CliBrokerNode;
let work: string;
before(async () => {
  work = mkdtempSync(join(tmpdir(), 'geartide-cli-src-'));
  broker = await startCliBroker();
  alice = await broker.createUser('alice', { maxGears: 10 });
  env = broker.env(alice.token);
  await broker.api('POST', '/districts', { body: { name: 'small1', gearProfile: 'small' } });
  // One node: every gear lands on it, so it is the node allowed to download every source.
  node = await broker.registerNode('node-1', { district: 'small1' });
  await broker.api('POST', '/domains', { token: alice.token, body: { name: 'srcdemo' } });
});
after(async () => {
  await broker?.close();
  rmSync(work, { recursive: true, force: true });
});

/** A directory with `files` (path → content) under the test's temporary folder. */
function appDir(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** What the node running the app's gear downloads: entry path → content, as the agent would unpack it. */
async function downloadedSource(app: string): Promise<Map<string, string>> {
  const shown = await broker.api('GET', `/domains/srcdemo/apps/${app}`, { token: alice.token });
  const response = await fetch(`${broker.url}/api/v1/nodes/${node.name}/gears/${shown.gears[0].id}/source`, { headers: { authorization: `Bearer ${node.credential}` } });
  assert.equal(response.status, 200);
  const files = new Map<string, string>();
  const parser = new Parser({
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => files.set(entry.path, Buffer.concat(chunks).toString('utf8')));
    },
  });
  await pipeline(Readable.from([Buffer.from(await response.arrayBuffer())]), parser);
  return files;
}

describe('app sources from the CLI', () => {
  test('app create --from DIR uploads DIR without .git and node_modules and runs it', async () => {
    const dir = appDir('v1', {
      'server.js': 'v1',
      'lib/util.js': 'util',
      '.git/HEAD': 'ref: refs/heads/main',
      'node_modules/left-pad/index.js': 'x',
      'lib/node_modules/nested/index.js': 'x',
    });
    const result = await runCli(['app', 'create', 'web', 'nodejs', '--from', dir, '-n', 'srcdemo'], env);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^app web created in domain srcdemo/);
    assert.match(result.stdout, /source:\s+\S+ \(version 1, \d+ bytes\)/);

    const app = await broker.api('GET', '/domains/srcdemo/apps/web', { token: alice.token });
    assert.equal(app.source.version, 1);
    const files = await downloadedSource('web');
    assert.equal(files.get('server.js'), 'v1');
    assert.equal(files.get('lib/util.js'), 'util');
    const paths = [...files.keys()];
    assert.ok(!paths.some((path) => path.split('/').includes('.git') || path.split('/').includes('node_modules')), `left out: ${paths.join(', ')}`);
  });

  test('app deploy NAME --from DIR uploads a new version; --json prints the app', async () => {
    const dir = appDir('v2', { 'server.js': 'v2' });
    const result = await runCli(['app', 'deploy', 'web', '--from', dir, '-n', 'srcdemo'], env);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^app web \(domain srcdemo\): source \S+ deployed \(version 2, \d+ bytes\); gears restart on it\n$/);
    assert.equal((await downloadedSource('web')).get('server.js'), 'v2');

    const json = await runCli(['app', 'deploy', 'web', '--from', dir, '--json'], env);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).source.version, 3);
  });

  test('a missing or non-directory --from is one line naming the path, and nothing is sent', async () => {
    const missing = join(work, 'no-such-dir');
    const file = join(work, 'a-file.txt');
    writeFileSync(file, 'not a directory');
    const sent = broker.requests.length;
    for (const [args, want] of [
      [['app', 'create', 'ghost', 'nodejs', '--from', missing], `error: --from ${missing}: no such directory\n`],
      [['app', 'create', 'ghost', 'nodejs', '--from', file], `error: --from ${file}: not a directory\n`],
      [['app', 'deploy', 'web', '--from', missing], `error: --from ${missing}: no such directory\n`],
    ] as const) {
      const result = await runCli([...args], env);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stderr, want);
      assert.equal(result.stdout, '');
    }
    assert.equal(broker.requests.length, sent, 'the CLI checked DIR before calling the broker');
    const deploy = await runCli(['app', 'deploy', 'web'], env);
    assert.notEqual(deploy.code, 0);
    assert.match(deploy.stderr, /--from/);
  });

  test('an archive the broker refuses is one line with its reason, and no app is created', async () => {
    const dir = appDir('evil', { 'server.js': 'ok' });
    symlinkSync('/etc', join(dir, 'etc'));
    const result = await runCli(['app', 'create', 'evil', 'nodejs', '--from', dir, '-n', 'srcdemo'], env);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, "error: source upload refused: entry 'etc' links to '/etc', which is an absolute path (field: body)\n");
    await broker.api('GET', '/domains/srcdemo/apps/evil', { token: alice.token, status: 404 });
  });
});
