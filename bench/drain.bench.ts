/**
 * Draining a node of 50 gears, 4 moves at a time, with everything real: broker (SQLite), router,
 * three node agents as processes, gears as processes. One app writes to its data directory on
 * every request and is under light load through the router during the drain, so its moves copy
 * with a pause.
 *
 * Figures: the drain's wall time (POST …/drain to the drain's end, seen by polling every 100 ms),
 * the longest pause of a writing gear (the moves' pauseMs), and moves per second.
 */
import { startPlatform } from '../test/support/platform.ts';
import { WRITER_SERVER } from '../test/integration/drain/drain-apps.ts';
import type { BenchResult } from './run.ts';

const DOMAIN = 'bench';
const DRAINED = 'local-node-1';
const GEARS = 50;
const WRITER_GEARS = 2;
const HELLO_APPS = 6;
const PARALLEL = 4;

export default async function run(): Promise<BenchResult[]> {
  const p = await startPlatform({ nodes: 1, maxActiveGears: 60 });
  try {
    const { token } = await p.createUser('bencher', { maxGears: 500 });
    await p.createDomain(DOMAIN, token);
    const source = await p.uploadSource({ 'server.js': WRITER_SERVER }, token);
    console.error(`drain: creating ${GEARS} gears on ${DRAINED}`);
    await p.createApp(DOMAIN, 'writer', { gears: WRITER_GEARS, source, token });
    const perApp = (GEARS - WRITER_GEARS) / HELLO_APPS;
    for (let index = 0; index < HELLO_APPS; index++) await p.createApp(DOMAIN, `hello${index}`, { gears: perApp, token });
    const apps = ['writer', ...Array.from({ length: HELLO_APPS }, (_, index) => `hello${index}`)];
    for (const app of apps) await p.waitForGearsStarted(DOMAIN, app, { timeoutMs: 120_000 });
    const writerHost = p.appHost('writer', DOMAIN);
    await p.waitForRoute(writerHost);
    await p.addNodes(2);
    const writerGears = new Set((await p.app(DOMAIN, 'writer')).gears.map((gear) => gear.id));

    const load = p.startLoad({ hosts: [writerHost], clients: 2, gapMs: 20, path: '/write', maxDurationMs: 180_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    console.error(`drain: draining ${DRAINED} (${GEARS} gears, ${PARALLEL} at a time)`);
    const started = process.hrtime.bigint();
    const drain = await p.drain(DRAINED, { parallel: PARALLEL }, { pollMs: 100, timeoutMs: 170_000 });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const report = await load.stop();
    if (drain.status !== 'succeeded') throw new Error(`the drain ${drain.status}: ${drain.reason}`);

    const moves: { gear: string; pauseMs: number | null; startedAt: string; updatedAt: string }[] = drain.moves;
    const writerPauses = moves.filter((move) => writerGears.has(move.gear)).map((move) => move.pauseMs ?? 0);
    const durations = moves.map((move) => Date.parse(move.updatedAt) - Date.parse(move.startedAt)).sort((a, b) => a - b);
    const median = durations[Math.floor(durations.length / 2)] ?? 0;
    return [
      {
        name: `drain of ${drain.total} gears, ${PARALLEL} at a time, 3 real agents`,
        value: seconds,
        unit: 's',
        target: { atMost: 30 },
        note: `${drain.moved} moved; a move takes ${median} ms (median), ${durations.at(-1)} ms (longest); writer load ${report.requests} requests, ${report.failures} failed`,
      },
      {
        name: 'longest pause of a writing gear',
        value: Math.max(0, ...writerPauses),
        unit: 'ms',
        note: `pauses of the ${writerPauses.length} writer gear(s): ${writerPauses.join(', ')} ms (pause asked → copy healthy, as the target reports it)`,
      },
      {
        name: 'slowest request to the writing app during the drain',
        value: report.maxLatencyMs,
        unit: 'ms',
        note: 'a paused source holds its requests until the broker is past target-started and its agent resumes it',
      },
      { name: 'gear moves per second', value: drain.moved / seconds, unit: 'moves/s' },
    ];
  } finally {
    await p.close();
  }
}
