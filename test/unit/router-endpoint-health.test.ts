import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ejectEndpoint, probeDelay, recordProbe, retainEndpoints, type EjectedEndpoints, type ProbePolicy } from '../../src/router/endpoint-health.ts';

const POLICY: ProbePolicy = { initialDelayMs: 100, maxDelayMs: 1_000 };

type Step = { eject: string; at: number } | { probe: string; ok: boolean; at: number } | { retain: string[] };

const cases: Record<string, { steps: Step[]; want: Record<string, { failedProbes: number; nextProbeAt: number; since: number }> }> = {
  'a refused endpoint is out, first probe after the initial delay': {
    steps: [{ eject: 'a', at: 1_000 }],
    want: { a: { since: 1_000, failedProbes: 0, nextProbeAt: 1_100 } },
  },
  'a second failure while out keeps the schedule': {
    steps: [{ eject: 'a', at: 1_000 }, { eject: 'a', at: 1_050 }],
    want: { a: { since: 1_000, failedProbes: 0, nextProbeAt: 1_100 } },
  },
  'failed probes back off, doubling': {
    steps: [{ eject: 'a', at: 0 }, { probe: 'a', ok: false, at: 100 }, { probe: 'a', ok: false, at: 300 }],
    want: { a: { since: 0, failedProbes: 2, nextProbeAt: 700 } },
  },
  'a probe that connects puts the endpoint back': {
    steps: [{ eject: 'a', at: 0 }, { eject: 'b', at: 0 }, { probe: 'a', ok: true, at: 100 }],
    want: { b: { since: 0, failedProbes: 0, nextProbeAt: 100 } },
  },
  'a probe result for a live endpoint changes nothing': {
    steps: [{ probe: 'a', ok: false, at: 100 }],
    want: {},
  },
  'endpoints no route lists are forgotten': {
    steps: [{ eject: 'a', at: 0 }, { eject: 'b', at: 0 }, { retain: ['b', 'c'] }],
    want: { b: { since: 0, failedProbes: 0, nextProbeAt: 100 } },
  },
};

for (const [name, { steps, want }] of Object.entries(cases)) {
  test(`endpoint health: ${name}`, () => {
    let state: EjectedEndpoints = new Map();
    for (const step of steps) {
      if ('eject' in step) state = ejectEndpoint(state, step.eject, 'connection refused', step.at, POLICY);
      else if ('probe' in step) state = recordProbe(state, step.probe, step.ok, step.at, POLICY);
      else state = retainEndpoints(state, new Set(step.retain));
    }
    const got = Object.fromEntries([...state].map(([endpoint, { failedProbes, nextProbeAt, since }]) => [endpoint, { failedProbes, nextProbeAt, since }]));
    assert.deepEqual(got, want);
  });
}

test('endpoint health: transitions never mutate the state they are given', () => {
  const before: EjectedEndpoints = new Map();
  const after = ejectEndpoint(before, 'a', 'reset', 0, POLICY);
  assert.equal(before.size, 0);
  recordProbe(after, 'a', true, 1, POLICY);
  assert.equal(after.size, 1);
});

test('endpoint health: probe delay is capped', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 50].map((failed) => probeDelay(failed, POLICY)), [100, 200, 400, 800, 1_000, 1_000]);
});
