/**
 * A gear move end to end with the real broker (its mover, REST and node endpoints) and two real
 * agents: the contract of docs/moves.md as both halves implement it, not as a double assumes it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import { create as createTar } from 'tar';

import { DOMAIN, fetchText, isAlive, startNodePlatform, waitFor, type NodePlatform } from './node-platform.ts';

/** Appends a line to $GEAR_DATA_DIR/log.txt on every request. */
const SERVER_JS = `const { appendFileSync } = require('node:fs');
const log = require('node:path').join(process.env.GEAR_DATA_DIR, 'log.txt');
require('node:http').createServer((request, response) => {
  appendFileSync(log, \`\${Date.now()} \${process.env.GEAR_ID}\\n\`);
  response.end(\`gear \${process.env.GEAR_ID} uid \${process.env.GEAR_UID} port \${process.env.PORT}\\n\`);
}).listen(Number(process.env.PORT), process.env.HOST);
`;

async function sourceArchive(): Promise<Uint8Array<ArrayBuffer>> {
  const dir = mkdtempSync(join(tmpdir(), 'geartide-move-src-'));
  try {
    writeFileSync(join(dir, 'server.js'), SERVER_JS);
    const chunks: Buffer[] = [];
    for await (const chunk of createTar({ gzip: true, cwd: dir, portable: true }, ['server.js'])) chunks.push(Buffer.from(chunk as Uint8Array));
    // A copy into a plain ArrayBuffer: what fetch's body type accepts.
    return new Uint8Array(Buffer.concat(chunks));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('node agent: a gear move with the real broker', () => {
  let platform: NodePlatform;
  before(async () => {
    platform = await startNodePlatform();
  });
  after(() => platform?.close());

  it('moves a writing gear to the other node: same data, new endpoint, short pause; the source is released', async () => {
    const a = await platform.startAgent('move-a');
    const upload = await fetch(`${platform.brokerUrl}/api/v1/sources`, { method: 'POST', headers: { authorization: `Bearer ${platform.userToken}`, 'content-type': 'application/gzip' }, body: await sourceArchive() });
    assert.equal(upload.status, 201, await upload.clone().text());
    const { id: sourceId } = (await upload.json()) as { id: string };
    await platform.api('POST', `/domains/${DOMAIN}/apps`, { body: { name: 'mover', cartridge: 'nodejs', gears: 1, source: sourceId } });
    const [placed] = await waitFor(async () => {
      const gears = await platform.appGears('mover');
      return gears[0]?.observedState === 'started' && (await fetchText(gears[0].endpoint))?.text.startsWith('gear ') && gears;
    }, 'the gear to run its uploaded source on move-a', 15_000);
    assert.equal(placed.node, 'move-a');
    const b = await platform.startAgent('move-b');

    // Keep the gear writing while it moves.
    let running = true;
    const load = (async () => {
      while (running) {
        const gears = await platform.appGears('mover').catch(() => []);
        for (const gear of gears) if (gear.endpoint) await fetchText(gear.endpoint);
        await sleep(10);
      }
    })();
    const sourceDir = join(a.stateDir, 'gears', placed.id);
    const sourcePid = JSON.parse(readFileSync(join(sourceDir, 'gear.json'), 'utf8')).pid;
    try {
      await waitFor(() => readFileSync(join(sourceDir, 'data', 'log.txt'), 'utf8').split('\n').length > 10, 'the gear to write');
      const started = await platform.api('POST', '/moves', { token: platform.adminToken, status: 202, body: { gears: [placed.id], to: 'move-b' } });
      const moveId = started.items[0].id;
      const move = await waitFor(async () => {
        const view = await platform.api('GET', `/moves/${moveId}`, { token: platform.adminToken });
        return view.status !== 'running' && view;
      }, 'the move to finish', 30_000);
      assert.equal(move.status, 'succeeded', JSON.stringify(move));
      assert.ok(typeof move.pauseMs === 'number' && move.pauseMs < 1000, `pause ${move.pauseMs} ms`);
    } finally {
      running = false;
      await load;
    }

    const [moved] = await waitFor(async () => {
      const gears = await platform.appGears('mover');
      return gears[0]?.node === 'move-b' && gears[0].observedState === 'started' && gears[0].endpoint && gears;
    }, 'the gear to be reported started on move-b', 15_000);
    assert.notEqual(moved.endpoint, placed.endpoint);
    assert.match((await fetchText(moved.endpoint))?.text ?? '', new RegExp(`^gear ${placed.id} uid ${placed.uid} `));
    const copyLog = readFileSync(join(b.stateDir, 'gears', placed.id, 'data', 'log.txt'), 'utf8');
    assert.ok(copyLog.split('\n').length > 10, 'the data came along');
    await waitFor(() => !isAlive(sourcePid) && !(() => { try { readFileSync(join(sourceDir, 'gear.json')); return true; } catch { return false; } })(), 'the source gear to be stopped and deleted', 15_000);
  });
});
