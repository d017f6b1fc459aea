import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { DesiredGear, MovePhase } from '../../src/node/desired-gear.ts';
import { crashBackoffMs, DEFAULT_SUPERVISION_POLICY, observedStateOf, planGearActions, type LocalGear } from '../../src/node/gear-plan.ts';
import type { GearRecord, IncomingMoveState } from '../../src/node/gear-record.ts';

const NOW = 1_000_000;
const policy = DEFAULT_SUPERVISION_POLICY;
const context = { now: NOW, gearHost: '127.0.0.1', policy };

function desired(overrides: Partial<DesiredGear> = {}): DesiredGear {
  return { id: 'g1', uid: 1000, app: 'hello', appId: 'a1', domain: 'demo', cartridge: 'nodejs', gearProfile: 'small', desiredState: 'started', restartGeneration: 0, sourceVersion: null, ...overrides };
}

function record(overrides: Partial<GearRecord> = {}): GearRecord {
  return {
    id: 'g1', uid: 1000, app: 'hello', appId: 'a1', domain: 'demo', cartridge: 'nodejs', gearProfile: 'small',
    desiredState: 'started', phase: 'running', port: 4000, pid: 42, pidStartTime: '7', startedAt: NOW - 5000, runningSince: NOW - 4000,
    restartGeneration: 0, sourceVersion: null, crashCount: 0, nextStartAt: null, sourceFailures: 0, nextSourceAttemptAt: null,
    reported: { observedState: 'started', endpoint: '127.0.0.1:4000' },
    ...overrides,
  };
}

function local(recordOverrides: Partial<GearRecord> = {}, observed: Partial<Omit<LocalGear, 'record'>> = {}): LocalGear {
  return { record: record(recordOverrides), processAlive: true, healthy: false, processStopped: false, pullInProgress: false, ...observed };
}

/** Actions as `kind` or `kind:detail` strings, so a table row reads at a glance. */
function summary(desiredSet: readonly DesiredGear[] | null, gears: readonly LocalGear[]): string[] {
  return planGearActions(desiredSet, gears, context).actions.map((action) => {
    switch (action.kind) {
      case 'report':
        return `report:${action.observedState}:${action.endpoint}`;
      case 'start':
      case 'restart':
        return `${action.kind}:${action.restartGeneration}`;
      case 'install-source':
        return `install-source:${action.sourceVersion}`;
      case 'mark-crashed':
        return `mark-crashed:${action.crashCount}:+${action.nextStartAt - NOW}`;
      case 'pull':
        return `pull:${action.move.id}`;
      case 'report-move-started':
        return `report-move-started:${action.moveId}:${action.endpoint}:${action.pauseMs}`;
      case 'report-move-failed':
        return `report-move-failed:${action.moveId}`;
      default:
        return action.kind;
    }
  });
}

const TABLE: Record<string, { desired: readonly DesiredGear[] | null; local: readonly LocalGear[]; want: string[] }> = {
  'a new gear placed on the node is created': { desired: [desired()], local: [], want: ['create'] },
  'a created gear that should run is started, and reported unknown meanwhile': {
    desired: [desired()], local: [local({ phase: 'stopped', pid: null, reported: null }, { processAlive: false })], want: ['report:unknown:null', 'start:0'],
  },
  'a running, healthy, reported gear needs nothing': { desired: [desired()], local: [local()], want: [] },
  'a starting gear that passes its health check becomes running': {
    desired: [desired()], local: [local({ phase: 'starting', runningSince: null, reported: { observedState: 'unknown', endpoint: null } }, { healthy: true })], want: ['mark-running'],
  },
  'a running gear not reported yet is reported started with its endpoint': {
    desired: [desired()], local: [local({ reported: { observedState: 'unknown', endpoint: null } })], want: ['report:started:127.0.0.1:4000'],
  },
  'a gear that should be stopped is stopped': {
    desired: [desired({ desiredState: 'stopped' })], local: [local()], want: ['remember-desired', 'stop'],
  },
  'a stopped gear is reported stopped without an endpoint': {
    desired: [desired({ desiredState: 'stopped' })], local: [local({ desiredState: 'stopped', phase: 'stopped', pid: null }, { processAlive: false })], want: ['report:stopped:null'],
  },
  'a stopped gear that was reported stopped needs nothing': {
    desired: [desired({ desiredState: 'stopped' })], local: [local({ desiredState: 'stopped', phase: 'stopped', pid: null, reported: { observedState: 'stopped', endpoint: null } }, { processAlive: false })], want: [],
  },
  'a gear absent from the desired set is removed': { desired: [], local: [local()], want: ['remove'] },
  'nothing is created or removed before the broker has answered': {
    desired: null, local: [local({ phase: 'stopped', pid: null, reported: null }, { processAlive: false })], want: ['start:0'],
  },
  'a newer restart generation restarts a running gear': { desired: [desired({ restartGeneration: 3 })], local: [local({ restartGeneration: 2 })], want: ['restart:3'] },
  'an older or equal restart generation does not restart': { desired: [desired({ restartGeneration: 2 })], local: [local({ restartGeneration: 2 })], want: [] },
  'a running gear whose process vanished is a first crash with 1 s backoff': {
    desired: [desired()], local: [local({}, { processAlive: false })], want: ['report:unknown:null', 'mark-crashed:1:+1000'],
  },
  'the fourth consecutive crash waits 8 s': { desired: [desired()], local: [local({ crashCount: 3, reported: { observedState: 'unknown', endpoint: null } }, { processAlive: false })], want: ['mark-crashed:4:+8000'] },
  'backoff is capped at 30 s': { desired: [desired()], local: [local({ crashCount: 9, reported: { observedState: 'failed', endpoint: null } }, { processAlive: false })], want: ['mark-crashed:10:+30000'] },
  'a crash-looping gear stays failed, not unknown, while its process is down': {
    desired: [desired()], local: [local({ crashCount: 5, reported: { observedState: 'started', endpoint: '127.0.0.1:4000' } }, { processAlive: false })], want: ['report:failed:null', 'mark-crashed:6:+30000'],
  },
  'a gear in backoff waits for its time': {
    desired: [desired()], local: [local({ phase: 'backoff', pid: null, crashCount: 2, nextStartAt: NOW + 1, reported: { observedState: 'unknown', endpoint: null } }, { processAlive: false })], want: [],
  },
  'a gear in backoff starts again when its time comes': {
    desired: [desired()], local: [local({ phase: 'backoff', pid: null, crashCount: 2, nextStartAt: NOW, reported: { observedState: 'unknown', endpoint: null } }, { processAlive: false })], want: ['start:0'],
  },
  'after failedAfterCrashes crashes the gear is reported failed': {
    desired: [desired()], local: [local({ phase: 'backoff', pid: null, crashCount: 5, nextStartAt: NOW + 5, reported: { observedState: 'unknown', endpoint: null } }, { processAlive: false })], want: ['report:failed:null'],
  },
  'a restart request starts a crashed gear at once': {
    desired: [desired({ restartGeneration: 1 })], local: [local({ phase: 'backoff', pid: null, crashCount: 5, nextStartAt: NOW + 30_000, reported: { observedState: 'failed', endpoint: null } }, { processAlive: false })], want: ['start:1'],
  },
  'a starting gear past the start timeout counts as a crash': {
    desired: [desired()], local: [local({ phase: 'starting', startedAt: NOW - policy.startTimeoutMs, runningSince: null, reported: { observedState: 'unknown', endpoint: null } })], want: ['mark-crashed:1:+1000'],
  },
  'a gear running stably for 60 s forgets its crashes': { desired: [desired()], local: [local({ crashCount: 3, runningSince: NOW - 60_000 })], want: ['reset-crashes'] },
  'a gear running for less than 60 s keeps its crash count': { desired: [desired()], local: [local({ crashCount: 3, runningSince: NOW - 59_000 })], want: [] },
  'a gear with a source not installed yet installs it before its first start': {
    desired: [desired({ sourceVersion: 4 })], local: [local({ phase: 'stopped', pid: null, reported: { observedState: 'unknown', endpoint: null } }, { processAlive: false })], want: ['install-source:4'],
  },
  'a new source version is installed and the running gear restarted': {
    desired: [desired({ sourceVersion: 5 })], local: [local({ sourceVersion: 4 })], want: ['install-source:5', 'restart:0'],
  },
  'a failed source download waits for its retry time': {
    desired: [desired({ sourceVersion: 4 })], local: [local({ phase: 'stopped', pid: null, sourceFailures: 1, nextSourceAttemptAt: NOW + 500, reported: { observedState: 'unknown', endpoint: null } }, { processAlive: false })], want: [],
  },
  'a stopped gear whose process is somehow alive is stopped again': {
    desired: [desired({ desiredState: 'stopped' })], local: [local({ desiredState: 'stopped', phase: 'stopped', reported: { observedState: 'unknown', endpoint: null } })], want: ['stop'],
  },
  'a gear crashing while it should be stopped is just stopped, not restarted': {
    desired: [desired({ desiredState: 'stopped' })], local: [local({ desiredState: 'stopped', reported: { observedState: 'unknown', endpoint: null } }, { processAlive: false })], want: ['stop'],
  },
};

const SOURCE_MOVE = (phase: MovePhase) => ({ id: 'm1', role: 'source' as const, phase });
const TARGET_MOVE = (phase: MovePhase) => ({ id: 'm1', role: 'target' as const, phase, source: 'http://127.0.0.1:9', token: 't' });
const PAUSE = { moveId: 'm1', until: NOW + 10_000, confirmed: true };
const INCOMING = (state: IncomingMoveState, pauseRequestedAt: number | null = null) => ({ moveId: 'm1', state, pauseRequestedAt, error: state === 'failed' ? 'source answered 401' : null });
const UNREPORTED = { reported: null } as const;

/** The agent's half of a move (docs/moves.md): target copies, source pauses, and how both end. */
const MOVES: typeof TABLE = {
  'an incoming gear (target, copying) not on the node is pulled, not created': { desired: [desired({ move: TARGET_MOVE('copying') })], local: [], want: ['pull:m1'] },
  'an incoming gear first seen past copying is not pulled late': { desired: [desired({ move: TARGET_MOVE('target-started') })], local: [], want: [] },
  'an incoming gear being copied waits for its copy, unreported': {
    desired: [desired({ move: TARGET_MOVE('copying') })], local: [local({ ...UNREPORTED, phase: 'stopped', pid: null, incoming: INCOMING('copying') }, { processAlive: false, pullInProgress: true })], want: [],
  },
  'a partial copy left by a restarted agent is reported failed, never started': {
    desired: [desired({ move: TARGET_MOVE('copying') })], local: [local({ ...UNREPORTED, phase: 'stopped', pid: null, incoming: INCOMING('copying') }, { processAlive: false })], want: ['report-move-failed:m1'],
  },
  'a partial copy is reported failed even before the broker has answered': {
    desired: null, local: [local({ ...UNREPORTED, phase: 'stopped', pid: null, incoming: INCOMING('copying') }, { processAlive: false })], want: ['report-move-failed:m1'],
  },
  'a failed copy is reported failed': {
    desired: [desired({ move: TARGET_MOVE('copying') })], local: [local({ ...UNREPORTED, phase: 'stopped', pid: null, incoming: INCOMING('failed') }, { processAlive: false })], want: ['report-move-failed:m1'],
  },
  'a copy whose failure was reported waits to be removed': {
    desired: [desired({ move: TARGET_MOVE('copying') })], local: [local({ ...UNREPORTED, phase: 'stopped', pid: null, incoming: INCOMING('failure-reported') }, { processAlive: false })], want: [],
  },
  'a complete copy is started': {
    desired: [desired({ move: TARGET_MOVE('copying') })], local: [local({ ...UNREPORTED, phase: 'stopped', pid: null, port: null, incoming: INCOMING('copied') }, { processAlive: false })], want: ['start:0'],
  },
  'a started copy that passes its health check becomes running': {
    desired: [desired({ move: TARGET_MOVE('copying') })], local: [local({ ...UNREPORTED, phase: 'starting', runningSince: null, incoming: INCOMING('copied') }, { healthy: true })], want: ['mark-running'],
  },
  'a running copy is reported started with its endpoint and the pause up to its health check': {
    desired: [desired({ move: TARGET_MOVE('copying') })], local: [local({ ...UNREPORTED, runningSince: NOW - 100, incoming: INCOMING('copied', NOW - 400) })], want: ['report-move-started:m1:127.0.0.1:4000:300'],
  },
  'a copy that needed no pause reports a 0 ms pause': {
    desired: [desired({ move: TARGET_MOVE('copying') })], local: [local({ ...UNREPORTED, incoming: INCOMING('copied') })], want: ['report-move-started:m1:127.0.0.1:4000:0'],
  },
  'a copy not healthy within the start timeout fails the move instead of crash-looping': {
    desired: [desired({ move: TARGET_MOVE('copying') })], local: [local({ ...UNREPORTED, phase: 'starting', startedAt: NOW - policy.startTimeoutMs, runningSince: null, incoming: INCOMING('copied') })], want: ['report-move-failed:m1'],
  },
  'a copy that exits before its health check fails the move': {
    desired: [desired({ move: TARGET_MOVE('copying') })], local: [local({ ...UNREPORTED, phase: 'starting', runningSince: null, incoming: INCOMING('copied') }, { processAlive: false })], want: ['report-move-failed:m1'],
  },
  'a reported copy keeps running while the move is routed, and is not reported as a gear yet': {
    desired: [desired({ move: TARGET_MOVE('routed-both') })], local: [local({ ...UNREPORTED, incoming: INCOMING('started-reported') })], want: [],
  },
  'a reported copy whose entry no longer names the move (past routed-target) settles, without a restart': {
    desired: [desired()], local: [local({ ...UNREPORTED, incoming: INCOMING('started-reported') })], want: ['settle-incoming'],
  },
  'a settled copy is then reported like any gear': { desired: [desired()], local: [local({ ...UNREPORTED, incoming: null })], want: ['report:started:127.0.0.1:4000'] },
  'a rolled-back target (gone from the desired list) is removed, copy in progress or not': {
    desired: [], local: [local({ ...UNREPORTED, phase: 'stopped', pid: null, incoming: INCOMING('copying') }, { processAlive: false, pullInProgress: true })], want: ['remove'],
  },
  'a source paused for the move stays paused while the move copies': {
    desired: [desired({ move: SOURCE_MOVE('copying') })], local: [local({ pause: PAUSE }, { processStopped: true })], want: [],
  },
  'a pause is confirmed once the desired list names its move': {
    desired: [desired({ move: SOURCE_MOVE('copying') })], local: [local({ pause: { ...PAUSE, confirmed: false } }, { processStopped: true })], want: ['confirm-pause'],
  },
  'a pause the desired list does not name yet is held (the list may lag the broker)': {
    desired: [desired()], local: [local({ pause: { ...PAUSE, confirmed: false } }, { processStopped: true })], want: [],
  },
  'a source whose move is rolled back (entry without move) is resumed': {
    desired: [desired()], local: [local({ pause: PAUSE }, { processStopped: true })], want: ['resume'],
  },
  'a source whose move left copying while paused (routed-both) is resumed': {
    desired: [desired({ move: SOURCE_MOVE('routed-both') })], local: [local({ pause: { ...PAUSE, confirmed: false } }, { processStopped: true })], want: ['resume'],
  },
  'a source paused for 30 s is resumed whatever the broker says': {
    desired: [desired({ move: SOURCE_MOVE('copying') })], local: [local({ pause: { ...PAUSE, until: NOW } }, { processStopped: true })], want: ['resume'],
  },
  'a stopped process no pause accounts for is resumed': { desired: [desired()], local: [local({}, { processStopped: true })], want: ['resume'] },
  'a released source (gone from the desired list) is resumed before it is removed': {
    desired: [], local: [local({ pause: PAUSE }, { processStopped: true })], want: ['resume', 'remove'],
  },
  'a paused source the broker wants stopped is resumed before it is stopped': {
    desired: [desired({ desiredState: 'stopped', move: SOURCE_MOVE('copying') })], local: [local({ desiredState: 'stopped', pause: PAUSE }, { processStopped: true })], want: ['resume', 'stop'],
  },
};

describe('planGearActions', () => {
  for (const [name, row] of Object.entries(MOVES)) {
    it(`move: ${name}`, () => assert.deepEqual(summary(row.desired, row.local), row.want));
  }

  it('a held pause wakes the planner at its deadline', () => {
    const plan = planGearActions([desired({ move: SOURCE_MOVE('copying') })], [local({ pause: PAUSE }, { processStopped: true })], context);
    assert.equal(plan.wakeAt, PAUSE.until);
  });

  for (const [name, row] of Object.entries(TABLE)) {
    it(name, () => assert.deepEqual(summary(row.desired, row.local), row.want));
  }

  it('plans each gear independently: create one, remove another, leave a third', () => {
    const kept = local({ id: 'g2' });
    const gone = local({ id: 'g3' });
    const plan = planGearActions([desired({ id: 'g1' }), desired({ id: 'g2' })], [kept, gone], context);
    assert.deepEqual(plan.actions.map((action) => `${action.kind}:${action.gearId}`), ['create:g1', 'remove:g3']);
  });

  it('wakes at the earliest timed decision: backoff end, health probe, stability', () => {
    const plan = planGearActions(null, [
      local({ id: 'a', phase: 'backoff', pid: null, nextStartAt: NOW + 700 }, { processAlive: false }),
      local({ id: 'b', crashCount: 1, runningSince: NOW - 1000 }),
    ], context);
    assert.equal(plan.wakeAt, NOW + 700);
    const probing = planGearActions(null, [local({ phase: 'starting', runningSince: null })], context);
    assert.equal(probing.wakeAt, NOW + policy.healthProbeIntervalMs);
    assert.equal(planGearActions(null, [local()], context).wakeAt, null);
  });

  it('every action carries a readable reason naming the gear', () => {
    const plan = planGearActions([desired({ restartGeneration: 1 })], [local()], context);
    for (const action of plan.actions) assert.match(action.reason, /gear g1/);
  });

  it('plans are frozen', () => {
    const plan = planGearActions([desired()], [], context);
    assert.ok(Object.isFrozen(plan) && Object.isFrozen(plan.actions));
  });
});

describe('crash backoff and observed state', () => {
  it('doubles from 1 s to a 30 s cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((count) => crashBackoffMs(count, policy)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  const STATES: Record<string, { local: Pick<LocalGear, 'record' | 'processAlive'>; want: string }> = {
    'running and alive is started': { local: local(), want: 'started' },
    'running but dead is unknown': { local: local({}, { processAlive: false }), want: 'unknown' },
    'stopped as desired is stopped': { local: local({ phase: 'stopped', desiredState: 'stopped' }, { processAlive: false }), want: 'stopped' },
    'not yet started while it should run is unknown': { local: local({ phase: 'stopped' }, { processAlive: false }), want: 'unknown' },
    'starting is unknown': { local: local({ phase: 'starting' }), want: 'unknown' },
    'crash-looping past the limit is failed': { local: local({ phase: 'backoff', crashCount: 5 }, { processAlive: false }), want: 'failed' },
  };
  for (const [name, row] of Object.entries(STATES)) {
    it(name, () => assert.equal(observedStateOf(row.local, policy), row.want));
  }
});
