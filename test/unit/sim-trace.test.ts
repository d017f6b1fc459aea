import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { InputError } from '../../src/core/errors.ts';
import { demandCurve, lowerBoundNodeHours, parseAlibabaBatch, parseUsageSeries, peakDemand, type TraceApp } from '../../src/sim/trace.ts';

const HOUR = 3600;
const app = (id: string, arrival: number, departure: number, gears: number): TraceApp => ({ id, arrival, departure, gears });

describe('the clairvoyant lower bound, on hand-made traces', () => {
  const cases: Record<string, { apps: TraceApp[]; max: number; want: number }> = {
    'one gear for an hour needs one node for an hour': { apps: [app('a', 0, HOUR, 1)], max: 50, want: 1 },
    '50 gears fit one node of 50; 51 need two': { apps: [app('a', 0, HOUR, 50), app('b', HOUR, 2 * HOUR, 51)], max: 50, want: 1 + 2 },
    'overlapping apps add up while they overlap': {
      // 0–1 h: 30 gears (1 node); 1–2 h: 30 + 30 = 60 (2 nodes); 2–3 h: 30 (1 node).
      apps: [app('a', 0, 2 * HOUR, 30), app('b', HOUR, 3 * HOUR, 30)],
      max: 50,
      want: 1 + 2 + 1,
    },
    'an idle gap costs nothing': { apps: [app('a', 0, HOUR, 10), app('b', 5 * HOUR, 6 * HOUR, 10)], max: 50, want: 2 },
    'ceil per instant, not of the average: a 10-minute spike to 101 gears': {
      apps: [app('base', 0, HOUR, 100), app('spike', 0, 600, 1)],
      max: 50,
      want: 2 + 1 / 6,
    },
  };
  for (const [name, { apps, max, want }] of Object.entries(cases)) {
    test(name, () => assert.ok(Math.abs(lowerBoundNodeHours({ apps }, max) - want) < 1e-9, `got ${lowerBoundNodeHours({ apps }, max)}, want ${want}`));
  }

  test('the demand curve and its peak', () => {
    const apps = [app('a', 0, 20, 3), app('b', 10, 30, 2), app('c', 20, 25, 4)];
    assert.deepEqual(demandCurve({ apps }), [
      { time: 0, gears: 3 },
      { time: 10, gears: 5 },
      { time: 20, gears: 6 },
      { time: 25, gears: 2 },
      { time: 30, gears: 0 },
    ]);
    assert.equal(peakDemand({ apps }), 6);
  });

  test('refuses a non-positive node size', () => assert.throws(() => lowerBoundNodeHours({ apps: [] }, 0), InputError));
});

describe('trace formats', () => {
  test('alibaba-batch: one app per task, gears = min(cap, ceil(instances / per gear)), bad rows skipped', () => {
    const text = [
      'task_create_time, task_end_time, job_id, task_id,number_of_instances, status, number_of_cpus_requested_per_instance_in_the_task,normalized_memory_requested_per_instance_in_the_task',
      '100,200,1,1,1,Terminated,50,0.1',
      '100,300,1,2,120,Terminated,50,0.1',
      '150,140,1,3,5,Failed,,', // ends before it starts: skipped
      '50,400,2,4,64486,Running,,',
      '',
    ].join('\n');
    const trace = parseAlibabaBatch(text, 'tasks.csv');
    assert.deepEqual(
      trace.apps.map((each) => [each.arrival, each.departure, each.gears]),
      [
        [50, 400, 20],
        [100, 200, 1],
        [100, 300, 3],
      ],
    );
    assert.deepEqual([trace.start, trace.end], [50, 400]);
    assert.match(trace.mapping, /3 tasks; 1 ending before they start skipped\), gears = min\(20, ceil\(instances \/ 50\)\)/);
  });

  test('alibaba-batch: a file without the columns is refused, naming the column', () => {
    assert.throws(() => parseAlibabaBatch('a,b,c\n1,2,3\n', 'x.csv'), (error: Error) => error instanceof InputError && /no column 'task_create_time'/.test(error.message));
  });

  test('usage-series: active gears follow the curve scaled to the peak; every app ends by the last row', () => {
    const text = 'cpu_util_percent,mem\n10,1\n20,1\n5,1\n20,1\n';
    const trace = parseUsageSeries(text, 'u.csv', { peakGears: 40, stepSeconds: 300, seed: 7 });
    // 10 → 20 gears, 20 → 40, 5 → 10, 20 → 40; rows of 300 s, the last ending at 1200 s.
    const at = (time: number) => trace.apps.filter((each) => each.arrival <= time && each.departure > time).reduce((sum, each) => sum + each.gears, 0);
    assert.deepEqual([at(0), at(300), at(600), at(900)], [20, 40, 10, 40]);
    assert.equal(trace.end, 1200);
    assert.equal(peakDemand(trace), 40);
    assert.deepEqual(parseUsageSeries(text, 'u.csv', { peakGears: 40, seed: 7 }).apps, trace.apps, 'the same seed, the same trace');
  });
});
