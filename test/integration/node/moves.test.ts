/**
 * The node agent's half of gear moves (docs/moves.md), with real agents and real gear processes.
 * The broker is a test double of its node contract (move-broker-double.ts), because these cases
 * need the move held at a phase the real mover passes through in milliseconds (the source still
 * paused at copying, a rollback after the copy started, a target killed mid-archive, the 30 s
 * limit). The move end to end with the real broker is moves-broker.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import pino from 'pino';
import { create as createTar, t as listTar } from 'tar';

import { startNodeAgent, type NodeAgentOptions, type RunningNodeAgent } from '../../../src/node/node-agent.ts';
import { isProcessStopped } from '../../../src/node/process-identity.ts';
import { startMoveBrokerDouble, type MoveBrokerDouble, type MoveReport } from './move-broker-double.ts';
import { fetchText, isAlive, processesWithEnv, waitFor } from './node-platform.ts';

const AGENT_ENTRY = join(import.meta.dirname, 'run-node-agent.ts');

/**
 * The app: appends a line to $GEAR_DATA_DIR/log.txt on every request, and every 5 ms besides, so
 * the gear surely writes while it is copied even when a loaded machine starves the test's client.
 */
const SERVER_JS = `const { appendFileSync, readFileSync } = require('node:fs');
const log = require('node:path').join(process.env.GEAR_DATA_DIR, 'log.txt');
setInterval(() => appendFileSync(log, \`\${Date.now()} tick\\n\`), 5);
require('node:http').createServer((request, response) => {
  appendFileSync(log, \`\${Date.now()} \${process.env.GEAR_ID}\\n\`);
  const lines = readFileSync(log, 'utf8').split('\\n').length - 1;
  response.end(\`gear \${process.env.GEAR_ID} uid \${process.env.GEAR_UID} port \${process.env.PORT} lines \${lines}\\n\`);
}).listen(Number(process.env.PORT), process.env.HOST);
`;

const G1 = 'g-move-1';
const G2 = 'g-move-2';
const G3 = 'g-move-3';

function gear(id: string, move?: object): object {
  return { id, uid: 1500, app: 'logger', appId: 'app-logger', domain: 'demo', cartridge: 'nodejs', gearProfile: 'small', desiredState: 'started', restartGeneration: 0, sourceVersion: 1, ...(move ? { move } : {}) };
}

async function tarball(files: Record<string, string>): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), 'geartide-move-src-'));
  try {
    for (const [path, content] of Object.entries(files)) writeFileSync(join(dir, path), content);
    const chunks: Buffer[] = [];
    for await (const chunk of createTar({ gzip: true, cwd: dir, portable: true }, Object.keys(files))) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Requests the gear continuously so that it keeps appending to its data file; returns the stop. */
function keepRequesting(endpoint: string): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      await fetch(`http://${endpoint}/`, { signal: AbortSignal.timeout(2000) })
        .then((response) => response.text())
        .catch(() => undefined);
      await sleep(10);
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

describe('node agent: gear moves between two real agents', () => {
  let root: string;
  let broker: MoveBrokerDouble;
  const agents: RunningNodeAgent[] = [];
  const children: ChildProcess[] = [];
  let a: RunningNodeAgent;
  let b: RunningNodeAgent;
  /** What node b should hold besides the gear a test moves there. */
  let bKeeps: object[] = [];

  const startAgent = async (name: string, options: Partial<NodeAgentOptions> = {}) => {
    const agent = await startNodeAgent({
      brokerUrl: broker.url,
      bootstrapToken: broker.bootstrapToken,
      name,
      stateDir: join(root, name),
      log: pino({ level: process.env.GEARTIDE_TEST_AGENT_LOG ?? 'silent' }),
      stopGraceMs: 2000,
      watchWaitSeconds: 5,
      ...options,
    });
    agents.push(agent);
    return agent;
  };
  const gearDir = (node: string, gearId: string) => join(root, node, 'gears', gearId);
  const record = (node: string, gearId: string) => JSON.parse(readFileSync(join(gearDir(node, gearId), 'gear.json'), 'utf8'));
  const reportOf = (moveId: string, state?: string) => waitFor(() => broker.moveReports.find((report) => report.moveId === moveId && (state === undefined || report.body.state === state)), `a ${state ?? ''} report of move ${moveId}`, 15_000);
  const startedEndpoint = (node: string, gearId: string) =>
    waitFor(() => [...broker.gearReports].reverse().find((report) => report.node === node && report.gearId === gearId && report.body.observedState === 'started')?.body.endpoint, `${gearId} started on ${node}`, 15_000);
  const agentCall = (agentUrl: string, method: string, path: string, token: string | undefined, body?: unknown) =>
    fetch(`${agentUrl}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'geartide-moves-'));
    broker = await startMoveBrokerDouble();
    broker.setSourceArchive(await tarball({ 'server.js': SERVER_JS }));
    a = await startAgent('a');
    b = await startAgent('b');
    broker.setDesired('a', [gear(G1), gear(G2)]);
    await startedEndpoint('a', G1);
    await startedEndpoint('a', G2);
  });

  after(async () => {
    await Promise.allSettled(agents.map((agent) => agent.stop()));
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const pid of processesWithEnv('GEAR_DIR', root, true)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await broker?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('copies a gear that keeps writing, with a short pause, starts it on a new endpoint, then hands it over', async () => {
    const sourceEndpoint = await startedEndpoint('a', G1);
    const stopLoad = keepRequesting(sourceEndpoint);
    try {
      await waitFor(() => readFileSync(join(gearDir('a', G1), 'data', 'log.txt'), 'utf8').split('\n').length > 20, 'the source gear to write');
      broker.addMove('m1', { gearId: G1, from: 'a', token: 'token-m1' });
      broker.setDesired('a', [gear(G1, { id: 'm1', role: 'source', phase: 'copying' }), gear(G2)]);
      broker.setDesired('b', [gear(G1, { id: 'm1', role: 'target', phase: 'copying', source: a.url, token: 'token-m1' })]);
      const report: MoveReport = await reportOf('m1');
      assert.equal(report.node, 'b');
      assert.equal(report.body.state, 'started', JSON.stringify(report.body));
      assert.ok(typeof report.body.pauseMs === 'number' && report.body.pauseMs > 0, `a writing gear needs a pause: ${report.body.pauseMs}`);
      assert.ok(report.body.pauseMs < 1000, `the pause of a small gear is short: ${report.body.pauseMs} ms`);

      // The move is still copying as far as the broker says: the source stays frozen, so its
      // files are exactly what was copied (the copy has appended its own health checks since).
      const sourcePid = record('a', G1).pid;
      assert.ok(isProcessStopped(sourcePid), 'the source is paused until the move leaves copying');
      const sourceLog = readFileSync(join(gearDir('a', G1), 'data', 'log.txt'), 'utf8');
      const copyLog = readFileSync(join(gearDir('b', G1), 'data', 'log.txt'), 'utf8');
      assert.ok(sourceLog.split('\n').length > 20);
      assert.ok(copyLog.startsWith(sourceLog), 'the copy has every line the source wrote');
      assert.equal(readFileSync(join(gearDir('b', G1), 'app', 'server.js'), 'utf8'), SERVER_JS);
      assert.ok(!readFileSync(join(gearDir('b', G1), 'log', 'gear.log'), 'utf8').includes(sourceEndpoint), "the source's own log is not copied");

      assert.notEqual(report.body.endpoint, sourceEndpoint, 'a new endpoint');
      const answer = await fetchText(report.body.endpoint!);
      assert.match(answer?.text ?? '', new RegExp(`^gear ${G1} uid 1500 port ${report.body.endpoint!.split(':')[1]} `), 'same gear id and UID, its own port');
      assert.equal(broker.verifyCalls.filter((call) => call.moveId === 'm1').length, 1, 'the token is checked with the broker once per move');
      assert.ok(!broker.gearReports.some((gearReport) => gearReport.node === 'b' && gearReport.gearId === G1), 'the copy is not reported as the gear before the move commits');

      // routed-both: the source resumes and serves beside the copy.
      broker.setDesired('a', [gear(G1, { id: 'm1', role: 'source', phase: 'routed-both' }), gear(G2)]);
      await waitFor(() => !isProcessStopped(sourcePid), 'the source to resume at routed-both', 5000);
      assert.match((await fetchText(sourceEndpoint))?.text ?? '', new RegExp(`^gear ${G1} `));
    } finally {
      await stopLoad();
    }

    // routed-target then source-released: the copy is b's gear (no move), the source goes.
    const copyPid = record('b', G1).pid;
    const sourcePid = record('a', G1).pid;
    bKeeps = [gear(G1)];
    broker.setDesired('b', bKeeps);
    broker.setDesired('a', [gear(G2)]);
    await waitFor(() => !existsSync(gearDir('a', G1)) && !isAlive(sourcePid), 'the released source to be stopped and deleted', 10_000);
    const endpoint = await startedEndpoint('b', G1);
    assert.equal(record('b', G1).pid, copyPid, 'the copy keeps running, not restarted');
    assert.equal(record('b', G1).incoming, null);
    assert.match((await fetchText(endpoint))?.text ?? '', new RegExp(`^gear ${G1} `));
  });

  it('refuses a wrong token (401, no file) and any path outside the gear', async () => {
    broker.addMove('m2', { gearId: G2, from: 'a', token: 'token-m2' });
    const outside = mkdtempSync(join(root, 'outside-'));
    writeFileSync(join(outside, 'secret'), 'not yours');
    symlinkSync(outside, join(gearDir('a', G2), 'data', 'link'));

    for (const token of [undefined, 'wrong-token']) {
      const manifest = await agentCall(a.url, 'GET', '/moves/m2/manifest', token);
      assert.equal(manifest.status, 401);
      assert.ok(!(await manifest.text()).includes('log.txt'), 'no manifest without the token');
      const archive = await agentCall(a.url, 'POST', '/moves/m2/archive', token, { paths: ['data/log.txt'] });
      assert.equal(archive.status, 401);
      assert.match(archive.headers.get('content-type') ?? '', /json/);
      assert.ok(!(await archive.text()).includes(G2), 'no file without the token');
    }
    assert.equal((await agentCall(a.url, 'GET', '/moves/m-other/manifest', 'token-m2')).status, 401, "a move's token opens no other move");
    assert.equal((await agentCall(a.url, 'POST', '/moves/m2/pause', 'wrong-token')).status, 401);
    assert.ok(!isProcessStopped(record('a', G2).pid), 'a refused pause pauses nothing');

    const refused = ['../../credential.json', '/etc/passwd', 'gear.json', 'log/gear.log', 'data/../gear.json', 'data/link/secret', '../g-move-1/data/log.txt'];
    for (const path of refused) {
      const response = await agentCall(a.url, 'POST', '/moves/m2/archive', 'token-m2', { paths: ['data/log.txt', path] });
      assert.equal(response.status, 400, path);
      assert.ok(!(await response.text()).includes('not yours'));
    }

    const manifest = await (await agentCall(a.url, 'GET', '/moves/m2/manifest', 'token-m2')).json();
    const paths = manifest.files.map((entry: { path: string }) => entry.path);
    assert.ok(paths.includes('data/log.txt') && paths.includes('app/server.js'));
    assert.ok(!paths.some((path: string) => path === 'gear.json' || path.startsWith('log')), 'gear.json and log/ are the agent\'s own');
    assert.equal(manifest.files.find((entry: { path: string }) => entry.path === 'data/link').type, 'symlink');

    const archive = await agentCall(a.url, 'POST', '/moves/m2/archive', 'token-m2', { paths: ['data/log.txt', 'data/link'] });
    assert.equal(archive.status, 200);
    const entries: string[] = [];
    await pipeline(Readable.from(Buffer.from(await archive.arrayBuffer())), listTar({ onReadEntry: (entry) => void entries.push(`${entry.type}:${entry.path}`) }));
    assert.deepEqual(entries, ['File:data/log.txt', 'SymbolicLink:data/link'], 'exactly what was asked; the symlink as a link');
    rmSync(join(gearDir('a', G2), 'data', 'link'));
  });

  it('rolled back after the copy started: the source resumes and serves, the target deletes its copy', async () => {
    const sourceEndpoint = await startedEndpoint('a', G2);
    const stopLoad = keepRequesting(sourceEndpoint);
    try {
      await waitFor(() => existsSync(join(gearDir('a', G2), 'data', 'log.txt')), 'the source gear to write');
      broker.addMove('m3', { gearId: G2, from: 'a', token: 'token-m3' });
      broker.setDesired('a', [gear(G2, { id: 'm3', role: 'source', phase: 'copying' })]);
      broker.setDesired('b', [...bKeeps, gear(G2, { id: 'm3', role: 'target', phase: 'copying', source: a.url, token: 'token-m3' })]);
      assert.equal((await reportOf('m3')).body.state, 'started');
    } finally {
      await stopLoad();
    }
    const sourcePid = record('a', G2).pid;
    const copyPid = record('b', G2).pid;
    // Paused for the final copy; should the copy have needed none, paused as the target would.
    if (!isProcessStopped(sourcePid)) assert.equal((await agentCall(a.url, 'POST', '/moves/m3/pause', 'token-m3')).status, 204);
    assert.ok(isProcessStopped(sourcePid), 'paused for the final copy');

    // The broker rolls back: the move leaves both desired lists.
    broker.removeMove('m3');
    broker.setDesired('a', [gear(G2)]);
    broker.setDesired('b', bKeeps);
    await waitFor(() => !isProcessStopped(sourcePid), 'the source to resume (SIGCONT)', 5000);
    assert.match((await fetchText(sourceEndpoint))?.text ?? '', new RegExp(`^gear ${G2} `), 'the source serves on');
    assert.equal(record('a', G2).pid, sourcePid, 'the same process: resumed, not restarted');
    await waitFor(() => !existsSync(gearDir('b', G2)) && !isAlive(copyPid), 'the target to stop and delete its copy', 10_000);
    assert.deepEqual(processesWithEnv('GEAR_DIR', gearDir('b', G2)), []);
  });

  it('a paused source is resumed after the pause limit even while the broker still says copying', async () => {
    const c = await startAgent('c', { policy: { movePauseLimitMs: 1500 } });
    broker.addMove('m4', { gearId: G3, from: 'c', token: 'token-m4' });
    broker.setDesired('c', [gear(G3, { id: 'm4', role: 'source', phase: 'copying' })]);
    await startedEndpoint('c', G3);
    const pid = record('c', G3).pid;
    const pausedAt = Date.now();
    assert.equal((await agentCall(c.url, 'POST', '/moves/m4/pause', 'token-m4')).status, 204);
    assert.ok(isProcessStopped(pid), 'SIGSTOP');
    await waitFor(() => !isProcessStopped(pid), 'the pause limit to release the gear', 5000);
    const held = Date.now() - pausedAt;
    assert.ok(held >= 1400, `held ${held} ms`);
    assert.equal(record('c', G3).pause, null);
  });

  it('a target agent killed mid-copy reports the move failed after its restart, and never starts the partial copy', async () => {
    // A large file, and a proxy in front of the source that passes the archive's first bytes then
    // stalls: the target is surely mid-copy when it is killed.
    writeFileSync(join(gearDir('a', G2), 'data', 'blob.bin'), Buffer.alloc(4 * 1024 * 1024, 7));
    let archiveStarted!: () => void;
    const archiveStartedPromise = new Promise<void>((resolve) => (archiveStarted = resolve));
    const proxy: Server = createServer((request, response) => {
      const upstream = httpRequest(`${a.url}${request.url}`, { method: request.method, headers: request.headers }, (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        if (!request.url!.endsWith('/archive')) return void answer.pipe(response);
        answer.once('data', (chunk: Buffer) => {
          response.write(chunk);
          answer.pause();
          archiveStarted();
        });
      });
      request.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;

    const spawnD = async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', AGENT_ENTRY, 'node', '--broker', broker.url, '--name', 'd', '--state-dir', join(root, 'd'), '--log-level', 'silent'], {
        env: { PATH: process.env.PATH, GEARTIDE_HOME: join(root, 'home'), GEARTIDE_BOOTSTRAP_TOKEN: broker.bootstrapToken },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let output = '';
      child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
      child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
      await waitFor(() => /listening on (\S+)/.test(output), 'agent d to listen', 15_000, () => output);
      return child;
    };
    try {
      broker.addMove('m5', { gearId: G2, from: 'a', token: 'token-m5' });
      broker.setDesired('a', [gear(G2, { id: 'm5', role: 'source', phase: 'copying' })]);
      broker.setDesired('d', [gear(G2, { id: 'm5', role: 'target', phase: 'copying', source: proxyUrl, token: 'token-m5' })]);
      const first = await spawnD();
      await archiveStartedPromise;
      await waitFor(() => existsSync(join(gearDir('d', G2), 'data')), 'the copy to be under way');
      assert.equal(record('d', G2).incoming.state, 'copying', 'gear.json says it is a partial copy');
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));
      proxy.closeAllConnections();

      await spawnD();
      const report = await reportOf('m5', 'failed');
      assert.equal(report.node, 'd');
      assert.match(report.body.error ?? '', /restarted during the copy/);
      await waitFor(() => record('d', G2).incoming.state === 'failure-reported', 'the failure to be recorded');
      await sleep(500);
      assert.deepEqual(processesWithEnv('GEAR_DIR', gearDir('d', G2)), [], 'the partial copy never ran');
      assert.ok(!broker.moveReports.some((moveReport) => moveReport.moveId === 'm5' && moveReport.body.state === 'started'));

      // The broker rolls back: the copy leaves d's list and its directory goes.
      broker.removeMove('m5');
      broker.setDesired('d', []);
      broker.setDesired('a', [gear(G2)]);
      await waitFor(() => !existsSync(gearDir('d', G2)), 'the partial copy to be deleted', 10_000);
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
