// The simulator's engine on small scenarios whose outcome can be worked out by hand: geartide's
// policy is the real planScale, placement the real planner; only boots and moves are simulated.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { consolidationPolicy, geartidePolicy, heatPolicy } from '../../src/sim/policies.ts';
import { simulate, type SimSettings } from '../../src/sim/simulator.ts';
import type { Trace, TraceApp } from '../../src/sim/trace.ts';
import { testScalePolicy } from '../support/scale-policy.ts';

const HOUR = 3600;
const SETTINGS: SimSettings = {
  intervalSeconds: 10,
  maxActiveGears: 50,
  minNodes: 1,
  maxNodes: 10,
  districtUids: 6000,
  appCreateWaitSeconds: 120,
  drainParallel: 4,
  moveSeconds: 1,
  bootDelaySeconds: 60,
  quota: null,
  failureRate: 0,
  seed: 1,
};
const POLICY = testScalePolicy();

function trace(apps: TraceApp[]): Trace {
  return { name: 'hand-made', apps, start: Math.min(...apps.map((app) => app.arrival)), end: Math.max(...apps.map((app) => app.departure)), mapping: 'by hand' };
}

describe('simulator', () => {
  test('usage reaching the threshold adds a node that boots; nothing waits; node-hours count from the request', () => {
    // 0–2 h: 40 gears (80 % of one node: a second comes at once); 1–1.5 h: 30 more.
    const result = simulate(trace([{ id: 'a', arrival: 0, departure: 2 * HOUR, gears: 20 }, { id: 'b', arrival: 0, departure: 2 * HOUR, gears: 20 }, { id: 'c', arrival: HOUR, departure: 1.5 * HOUR, gears: 30 }]), geartidePolicy(POLICY), SETTINGS);
    assert.equal(result.scaleUps, 1);
    assert.equal(result.nodesAdded, 1);
    assert.deepEqual([result.placementsRefused, result.placementsDelayed], [0, 0]);
    // Two nodes for two hours (the second asked for at t = 0); 40 of 100 slots after c leaves
    // would be 80 % on one node: more than 70 %, so none is cordoned until everything ends.
    assert.deepEqual(result.events.filter((event) => event.kind === 'scale-down').map((event) => event.time), [2 * HOUR]);
    assert.ok(Math.abs(result.nodeHours - 4) < 0.01, `node-hours ${result.nodeHours}`);
    assert.ok(Math.abs(result.lowerBoundNodeHours - 2.5) < 1e-9);
    assert.ok(Math.abs(result.ratio - 4 / 2.5) < 0.01);
    assert.deepEqual(result.events.filter((event) => event.kind !== 'node-ready').map((event) => [event.time, event.kind]), [[0, 'scale-up'], [2 * HOUR, 'scale-down']]);
    assert.deepEqual(result.events.find((event) => event.kind === 'node-ready')!.time, 60, 'the node registers after the boot delay');
  });

  test('an app placed after a wait runs its whole duration from then on; ending in the trace while it waits does not refuse it', () => {
    // 'short' (10 s) arrives when the only node is full, 10 s after a scale-up was asked for:
    // it waits ~50 s for that node, longer than its life in the trace, then runs its 10 s there.
    const result = simulate(
      trace([{ id: 'full', arrival: 0, departure: HOUR, gears: 50 }, { id: 'short', arrival: 10, departure: 20, gears: 5 }]),
      geartidePolicy(POLICY),
      { ...SETTINGS, initialNodes: 1 },
    );
    assert.equal(result.placementsRefused, 0);
    assert.equal(result.placementsDelayed, 1);
    assert.ok(result.totalDelaySeconds > 10, `it waited ${result.totalDelaySeconds} s, longer than its 10 s in the trace`);
  });

  test('an app that fits nowhere waits for the node its refusal brings, and is counted as delayed', () => {
    const result = simulate(trace([{ id: 'big', arrival: 0, departure: HOUR, gears: 20 }, { id: 'more', arrival: 100, departure: HOUR, gears: 40 }]), geartidePolicy(POLICY), SETTINGS);
    assert.equal(result.placementsRefused, 0);
    assert.equal(result.placementsDelayed, 1);
    // `big` is 40 % of one node: no scale-up. `more` arrives at 100 s with no room (20 + 40 > 50);
    // its refusal asks for a node at that tick, which registers 60 s later, and it is placed then.
    assert.equal(result.scaleUps, 1);
    assert.equal(result.totalDelaySeconds, 60);
  });

  test('the cloud\'s quota reached: the pool is exhausted, an app that does not fit is refused at once, and the time exhausted is counted', () => {
    const result = simulate(trace([{ id: 'a', arrival: 0, departure: HOUR, gears: 45 }, { id: 'b', arrival: 600, departure: HOUR, gears: 10 }]), geartidePolicy(POLICY), { ...SETTINGS, quota: 1 });
    assert.equal(result.scaleUps, 0, 'no request the quota cannot hold');
    assert.equal(result.placementsRefused, 1);
    assert.equal(result.placementsDelayed, 0);
    assert.ok(result.exhaustedHours > 0.9, `exhausted ${result.exhaustedHours} h`);
    assert.equal(result.events[0]!.kind, 'exhausted');
    assert.match(result.events[0]!.detail, /quota|room/);
  });

  test('an under-used pool removes a node after the unneeded time and moves its gears; Heat removes the newest', () => {
    // Three nodes' worth at first, then the load falls to 30 gears for hours.
    const apps: TraceApp[] = [{ id: 'stay', arrival: 0, departure: 5 * HOUR, gears: 20 }, { id: 'stay2', arrival: 0, departure: 5 * HOUR, gears: 10 }];
    for (let index = 0; index < 10; index++) apps.push({ id: `burst${index}`, arrival: 0, departure: HOUR, gears: 10 });
    const result = simulate(trace(apps), geartidePolicy(POLICY), { ...SETTINGS, initialNodes: 4 });
    assert.ok(result.scaleDowns >= 2, `scale-downs ${result.scaleDowns}`);
    assert.ok(result.events.some((event) => event.kind === 'node-deleted'));
    const heat = simulate(trace(apps), heatPolicy(), { ...SETTINGS, initialNodes: 4 });
    const removed = heat.events.filter((event) => event.kind === 'scale-down').map((event) => event.detail.split(':')[0]);
    assert.ok(removed.length > 0);
    assert.equal(removed[0], 'sim-node-4', 'Heat removes the newest member first');
  });

  test('the same trace and settings give the same run', () => {
    const apps: TraceApp[] = Array.from({ length: 40 }, (_, index) => ({ id: `t${index}`, arrival: index * 97, departure: index * 97 + 1800 + (index % 7) * 300, gears: 1 + (index % 5) }));
    const first = simulate(trace(apps), geartidePolicy(POLICY), { ...SETTINGS, failureRate: 0.3 });
    const second = simulate(trace(apps), geartidePolicy(POLICY), { ...SETTINGS, failureRate: 0.3 });
    assert.deepEqual(first, second);
  });

  describe('the consolidation model (the cost of approaching the lower bound)', () => {
    test('adds a node only for gears that wait, never ahead of demand: a full node is left as it is until an app finds no room', () => {
      const apps: TraceApp[] = Array.from({ length: 50 }, (_, index) => ({ id: `a${index}`, arrival: 0, departure: HOUR, gears: 1 }));
      apps.push({ id: 'late', arrival: 600, departure: 700, gears: 1 });
      const model = simulate(trace(apps), consolidationPolicy({ headroom: 0.05, moveAfterSeconds: 0 }), { ...SETTINGS, initialNodes: 1 });
      assert.deepEqual(
        model.events.filter((event) => event.kind === 'scale-up').map((event) => event.time),
        [600],
        'one scale-up, when the late app found no room',
      );
      assert.deepEqual([model.placementsRefused, model.placementsDelayed], [0, 1]);
      // geartide's threshold asks for a node at once (100 % ≥ 80 %): the late app does not wait.
      const geartide = simulate(trace(apps), geartidePolicy(POLICY), { ...SETTINGS, initialNodes: 1 });
      assert.equal(geartide.events.find((event) => event.kind === 'scale-up')?.time, 0);
      assert.equal(geartide.placementsDelayed, 0);
    });

    // 50 one-gear apps fill one node, 10 more go to the second; at 1 h 45 of the first 50 end:
    // the first node keeps 5 gears, the second 10, and one node holds them all.
    const fragmented = (): TraceApp[] =>
      Array.from({ length: 60 }, (_, index) => ({ id: `a${String(index).padStart(2, '0')}`, arrival: index < 50 ? 0 : 1, departure: index < 45 ? HOUR : 2 * HOUR, gears: 1 }));

    test('with no wait, it cordons the emptiest node as soon as the others hold demand + headroom and moves what is left on it', () => {
      const result = simulate(trace(fragmented()), consolidationPolicy({ headroom: 0.05, moveAfterSeconds: 0 }), { ...SETTINGS, initialNodes: 2 });
      assert.equal(result.moves, 5, 'the 5 gears left on the emptier node move');
      const deleted = result.events.filter((event) => event.kind === 'node-deleted');
      assert.equal(deleted.length, 1);
      assert.ok(deleted[0]!.time >= HOUR && deleted[0]!.time <= HOUR + 30, `deleted at ${deleted[0]!.time} s`);
      assert.ok(Math.abs(result.nodeHours - 3) < 0.02, `node-hours ${result.nodeHours}: 2 nodes for 1 h, then 1`);
    });

    test('with a wait longer than the gears left, the cordoned node empties by itself: no move, an hour more paid', () => {
      const result = simulate(trace(fragmented()), consolidationPolicy({ headroom: 0.05, moveAfterSeconds: 2 * HOUR }), { ...SETTINGS, initialNodes: 2 });
      assert.equal(result.moves, 0);
      assert.equal(result.placementsRefused, 0);
      assert.ok(Math.abs(result.nodeHours - 4) < 0.02, `node-hours ${result.nodeHours}: 2 nodes for 2 h`);
    });

    test('a negative headroom or wait is refused, naming both', () => {
      assert.throws(() => consolidationPolicy({ headroom: -0.1, moveAfterSeconds: 0 }), /headroom and moveAfterSeconds must be ≥ 0, got -0.1 and 0/);
    });
  });
});
