/**
 * Issue 4, the broker half: a broker SIGKILLed at each journal phase of a gear move
 * (GEARTIDE_FAILPOINT=move:<phase>, src/broker/failpoint.ts) and started again without it, with
 * real node agents, gears and a router. After the restart the move ends — forward from the
 * commit point (routed-target) on, forward or back before it — and the gear runs exactly once,
 * on the node the broker says, with no directory left on the other node, answering directly
 * and through the router.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { findProcessesWithEnv } from '../../../src/node/process-identity.ts';
import { startKillPlatform, waitFor, within, type KillPlatform } from './kill-platform.ts';

const NODES = ['node-a', 'node-b'] as const;

/** Each phase, and what a broker killed right after journalling it must end with. */
const PHASES: readonly { phase: string; outcome: 'nothing' | 'either' | 'succeeded' | 'rolled-back'; why: string }[] = [
  { phase: 'planned', outcome: 'nothing', why: 'the journal row and the move row commit together, so a kill inside that transaction leaves no move at all' },
  { phase: 'copying', outcome: 'either', why: 'before the commit point a move resumes or rolls back' },
  { phase: 'target-started', outcome: 'either', why: 'before the commit point a move resumes or rolls back' },
  { phase: 'routed-both', outcome: 'either', why: 'before the commit point a move resumes or rolls back' },
  { phase: 'routed-target', outcome: 'succeeded', why: 'routed-target is the commit point: the move only rolls forward' },
  { phase: 'source-released', outcome: 'succeeded', why: 'past the commit point the move only rolls forward' },
  { phase: 'rolling-back', outcome: 'rolled-back', why: 'a rollback that was journalled is finished' },
];

/**
 * Installed in the source gear's app/ for the rolling-back case: server.js wins over the built-in
 * server.mjs at the next start, and refuses to run anywhere but where the gear was first created.
 * The source keeps its running process; the target's copy exits at its first start, so the
 * target reports the copy failed and the broker rolls the move back.
 */
function pinnedServer(gearDir: string): string {
  return `if (process.env.GEAR_DIR !== ${JSON.stringify(gearDir)}) { console.error('this app refuses to run outside ' + ${JSON.stringify(gearDir)}); process.exit(3); }
import('./server.mjs');
`;
}

describe('kill tests: the broker SIGKILLed at each phase of a move', () => {
  let p: KillPlatform;

  before(async () => {
    p = await startKillPlatform();
    for (const node of NODES) await p.startAgent(node);
    await p.startRouter();
  });

  after(async () => {
    await p?.close();
  });

  for (const { phase, outcome, why } of PHASES) {
    it(`killed at ${phase}: ${why}`, { timeout: 120_000 }, async (t) => {
      await p.restartBroker(`move:${phase}`);
      const app = `k${phase.replaceAll('-', '')}`;
      const gear = await p.createStartedGear(app);
      const source = gear.node;
      const target = NODES.find((node) => node !== source)!;
      if (phase === 'rolling-back') writeFileSync(join(p.gearDir(source, gear.id), 'app', 'server.js'), pinnedServer(p.gearDir(source, gear.id)));
      const [sourcePid] = findProcessesWithEnv('GEAR_ID', gear.id);

      // The broker may die before it answers (always so at planned, where it dies inside startMove).
      const posted = p.api('POST', '/moves', { token: p.adminToken, body: { gears: [gear.id] }, status: 202 }).catch((error: Error) => error);
      const exit = await within(p.broker.exited, `the broker to reach failpoint move:${phase}`, 60_000);
      assert.deepEqual(exit, { code: null, signal: 'SIGKILL' }, `the broker died by its failpoint:\n${p.broker.output()}`);
      await posted;

      const journal = await p.readJournal(gear.id);
      if (phase === 'planned') {
        assert.deepEqual(journal, [], 'the transaction that journals planned never committed');
      } else {
        assert.equal(journal.length, 1);
        assert.deepEqual({ phase: journal[0]!.phase, status: journal[0]!.status }, { phase, status: 'running' }, 'the kill left the move at its failpoint');
      }

      await p.restartBroker();
      const ended = await waitFor(
        async () => {
          const running = (await p.api('GET', '/moves?status=running', { token: p.adminToken })).items;
          return running.length === 0 && ((await p.api('GET', '/moves', { token: p.adminToken })).items as { gear: string; status: string; error: string | null }[]).filter((move) => move.gear === gear.id);
        },
        'no move left running',
        60_000,
      );

      let owner: string;
      switch (outcome) {
        case 'nothing':
          assert.deepEqual(ended, [], 'no move of the gear exists');
          owner = source;
          break;
        case 'rolled-back':
          assert.equal(ended.length, 1);
          assert.equal(ended[0]!.status, 'rolled-back');
          assert.match(ended[0]!.error ?? '', /the target could not start its copy: the copy exited before passing its health check/);
          owner = source;
          break;
        case 'succeeded':
          assert.equal(ended.length, 1);
          assert.equal(ended[0]!.status, 'succeeded');
          owner = target;
          break;
        case 'either':
          assert.equal(ended.length, 1);
          assert.ok(['succeeded', 'rolled-back'].includes(ended[0]!.status), `the move ended ${ended[0]!.status}`);
          owner = ended[0]!.status === 'succeeded' ? target : source;
          t.diagnostic(`the restarted broker ${ended[0]!.status === 'succeeded' ? 'finished the move' : `rolled it back: ${ended[0]!.error}`}`);
          break;
      }
      const pid = await p.waitSettledOn(gear.id, app, owner);
      if (owner === source) assert.equal(pid, sourcePid, 'the source process kept running through the kill and the rollback');

      if (outcome === 'nothing') {
        // Nothing of the dead move is left reserved: the gear moves now.
        const move = (await p.api('POST', '/moves', { token: p.adminToken, body: { gears: [gear.id] }, status: 202 })).items[0];
        await waitFor(async () => (await p.api('GET', `/moves/${move.id}`, { token: p.adminToken })).status === 'succeeded', 'the second move to succeed', 60_000);
        await p.waitSettledOn(gear.id, app, target);
      }
    });
  }
});
