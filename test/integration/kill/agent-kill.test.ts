/**
 * Issue 4, the node half: a node agent SIGKILLed in the middle of a gear's copy — the target
 * (pulling the copy) or the source (serving it) — with a real broker, agents, gears and router.
 * The move rolls back, the source gear never stops answering, the restarted agent leaves
 * exactly one process of the gear (the source's, re-adopted) and no directory on the target.
 *
 * "Mid-copy" is made certain, not hoped for: the gear holds a 200 MB data file, and the agent
 * about to be killed is first frozen (SIGSTOP) once the target's copy of that file has begun,
 * so the test can see on disk that the copy is partial at the instant of the SIGKILL.
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { request } from 'undici';

import { findProcessesWithEnv } from '../../../src/node/process-identity.ts';
import { DOMAIN, answers, readGearRecord, startKillPlatform, waitFor, within, type GearView, type KillPlatform } from './kill-platform.ts';

const NODES = ['node-a', 'node-b'] as const;
const BLOB_BYTES = 200 * 1024 * 1024;

/** Writes BLOB_BYTES of non-repeating-looking data (no sparse file, nothing a transport could shrink). */
function writeBlob(path: string): void {
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  for (let index = 0; index < chunk.length; index += 4) chunk.writeUInt32LE((index * 2654435761) >>> 0, index);
  const fd = openSync(path, 'w');
  try {
    for (let written = 0; written < BLOB_BYTES; written += chunk.length) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

/**
 * Asks the gear every 100 ms, directly and through the router, until stopped; returns the
 * failures. A request may wait up to 10 s (a source paused for a final copy answers late, not never).
 */
function keepAsking(p: KillPlatform, gear: GearView, app: string): () => Promise<{ requests: number; failures: string[] }> {
  let running = true;
  let requests = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      requests++;
      if (!(await answers(gear.endpoint!, gear.id, 10_000))) failures.push(`${new Date().toISOString()} directly at ${gear.endpoint}`);
      try {
        const response = await request(`${p.routerUrl}/`, { headers: { host: `${app}-${DOMAIN}.localhost` }, headersTimeout: 10_000, bodyTimeout: 10_000 });
        const text = await response.body.text();
        if (response.statusCode !== 200 || !text.includes(gear.id)) failures.push(`${new Date().toISOString()} router answered ${response.statusCode}: ${text.trim()}`);
      } catch (error) {
        failures.push(`${new Date().toISOString()} router: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return async () => {
    running = false;
    await loop;
    return { requests, failures };
  };
}

describe('kill tests: a node agent SIGKILLed mid-copy', () => {
  let p: KillPlatform;

  before(async () => {
    // A lost node is noticed within 3 s, and a copy that never starts is given up after 30 s:
    // whichever way the broker learns of the failure, it learns within the test's time.
    p = await startKillPlatform({ NODE_LOST_AFTER: '3', MOVE_COPY_TIMEOUT: '30' });
    for (const node of NODES) await p.startAgent(node);
    await p.startRouter();
  });

  after(async () => {
    await p?.close();
  });

  /** A started gear holding the 200 MB file, its move begun; resolves once the target's copy of the file is partial. */
  async function moveBigGear(app: string) {
    const gear = await p.createStartedGear(app);
    const source = gear.node;
    const target = NODES.find((node) => node !== source)!;
    writeBlob(join(p.gearDir(source, gear.id), 'data', 'blob.bin'));
    const [sourcePid] = findProcessesWithEnv('GEAR_ID', gear.id);
    assert.ok(sourcePid, 'the source gear runs');
    const stopAsking = keepAsking(p, gear, app);
    const move = (await p.api('POST', '/moves', { token: p.adminToken, body: { gears: [gear.id] }, status: 202 })).items[0];
    const copied = join(p.gearDir(target, gear.id), 'data', 'blob.bin');
    await waitFor(() => existsSync(copied) && statSync(copied).size > 0, 'the target to be copying the blob', 30_000);
    return { gear, source, target, sourcePid, move, copied, stopAsking };
  }

  /** SIGSTOP, check the copy is partial and still `copying` on the target, SIGKILL. */
  async function killMidCopy(agentName: string, target: string, gearId: string, copied: string): Promise<number> {
    const agent = p.agent(agentName);
    process.kill(agent.child.pid!, 'SIGSTOP');
    const size = statSync(copied).size;
    assert.ok(size < BLOB_BYTES, `the copy is partial when ${agentName} is killed (${size} of ${BLOB_BYTES} bytes)`);
    assert.equal(readGearRecord(p.gearDir(target, gearId))?.incoming?.state, 'copying', 'the target records its copy as under way');
    process.kill(agent.child.pid!, 'SIGKILL');
    assert.deepEqual(await within(agent.exited, `${agentName} to exit`, 10_000), { code: null, signal: 'SIGKILL' });
    return size;
  }

  async function endedMove(moveId: string) {
    const move = await waitFor(
      async () => {
        const view = await p.api('GET', `/moves/${moveId}`, { token: p.adminToken });
        return view.status !== 'running' && view;
      },
      `move ${moveId} to end`,
      60_000,
    );
    assert.deepEqual((await p.api('GET', '/moves?status=running', { token: p.adminToken })).items, [], 'no move left running');
    return move;
  }

  it('the target agent killed mid-copy: the move rolls back, the source serves throughout, no directory is left on the target', { timeout: 180_000 }, async (t) => {
    const { gear, source, target, sourcePid, move, copied, stopAsking } = await moveBigGear('tgtkill');
    try {
      t.diagnostic(`target killed with ${await killMidCopy(target, target, gear.id, copied)} of ${BLOB_BYTES} bytes copied`);
      await p.startAgent(target);

      const ended = await endedMove(move.id);
      assert.equal(ended.status, 'rolled-back');
      t.diagnostic(`rolled back: ${ended.error}`);
      // The restarted agent reports its partial copy failed; had it stayed away, the lost node would do.
      assert.match(ended.error ?? '', /restarted during the copy|is lost/);
      const pid = await p.waitSettledOn(gear.id, 'tgtkill', source);
      assert.equal(pid, sourcePid, 'the source gear was never restarted');
    } finally {
      const { requests, failures } = await stopAsking();
      assert.deepEqual(failures, [], `the source answered every request (${requests} asked)`);
    }
  });

  it('the source agent killed mid-copy: the move rolls back, the gear keeps answering, the restarted source re-adopts it as its only process', { timeout: 180_000 }, async (t) => {
    const { gear, source, target, sourcePid, move, copied, stopAsking } = await moveBigGear('srckill');
    try {
      t.diagnostic(`source killed with ${await killMidCopy(source, target, gear.id, copied)} of ${BLOB_BYTES} bytes copied`);
      const ended = await endedMove(move.id);
      assert.equal(ended.status, 'rolled-back');
      t.diagnostic(`rolled back: ${ended.error}`);
      assert.match(ended.error ?? '', /the target could not start its copy/);
      assert.deepEqual(findProcessesWithEnv('GEAR_ID', gear.id), [sourcePid], 'the gear outlives its agent, and the target never started its copy');

      await p.startAgent(source);
      const pid = await p.waitSettledOn(gear.id, 'srckill', source);
      assert.equal(pid, sourcePid, 'the restarted agent adopted the running gear instead of starting another');
    } finally {
      const { requests, failures } = await stopAsking();
      assert.deepEqual(failures, [], `the gear answered every request (${requests} asked)`);
    }
  });
});
