import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import type { ApiDrain, ApiMove } from '../../src/cli/api-types.ts';
import { collectGearIds } from '../../src/cli/move-commands.ts';
import {
  ProgressDisplay,
  drainStartLine,
  drainSummary,
  moveChangeLines,
  moveLine,
  movesSummary,
  movesTable,
  progressOfDrain,
  progressOfMoves,
} from '../../src/cli/move-progress.ts';

function move(id: string, overrides: Partial<ApiMove> = {}): ApiMove {
  return {
    id,
    gear: `gear-${id}`,
    app: 'shop',
    domain: 'demo',
    from: 'n1',
    to: 'n2',
    phase: 'copying',
    status: 'running',
    pauseMs: null,
    error: null,
    startedAt: '2030-01-01T00:00:00.000Z',
    updatedAt: '2030-01-01T00:00:01.000Z',
    ...overrides,
  };
}

function drain(overrides: Partial<ApiDrain> = {}): ApiDrain {
  return {
    id: 'd1',
    node: 'n1',
    status: 'running',
    parallel: 4,
    deadline: '2030-01-01T00:10:00.000Z',
    total: 3,
    moved: 0,
    failed: 0,
    inFlight: 0,
    reason: 'move 3 gears of node n1 to 2 other active nodes of district east: n2 (2), n3 (1)',
    moves: [],
    startedAt: '2030-01-01T00:00:00.000Z',
    updatedAt: '2030-01-01T00:00:00.000Z',
    ...overrides,
  };
}

describe('moveLine', () => {
  const cases: Record<string, { input: ApiMove; want: string }> = {
    'a running move shows its phase': { input: move('m1', { phase: 'routed-both' }), want: 'gear gear-m1 (shop-demo) n1 -> n2: routed-both' },
    'a finished move shows the pause': { input: move('m1', { status: 'succeeded', phase: 'done', pauseMs: 40 }), want: 'gear gear-m1 (shop-demo) n1 -> n2: moved, pause 40 ms' },
    'a finished move without a reported pause says nothing of it': { input: move('m1', { status: 'succeeded', phase: 'done' }), want: 'gear gear-m1 (shop-demo) n1 -> n2: moved' },
    'a failed move says why, on one line': {
      input: move('m1', { status: 'failed', error: 'copy failed:\nconnection reset' }),
      want: 'gear gear-m1 (shop-demo) n1 -> n2: failed: copy failed: connection reset',
    },
    'a rolled-back move says the gear stayed': {
      input: move('m1', { status: 'rolled-back', phase: 'rolled-back', error: 'health check timed out' }),
      want: 'gear gear-m1 (shop-demo) n1 -> n2: rolled back, the gear stays on n1: health check timed out',
    },
  };
  for (const [name, { input, want }] of Object.entries(cases)) test(name, () => assert.equal(moveLine(input), want));
});

describe('moveChangeLines', () => {
  const before = new Map([
    ['m1', move('m1', { phase: 'copying' })],
    ['m2', move('m2', { phase: 'copying' })],
    ['m3', move('m3', { status: 'succeeded', phase: 'done' })],
  ]);
  const after = [
    move('m1', { phase: 'copying' }), // unchanged
    move('m2', { phase: 'target-started' }), // new phase
    move('m3', { status: 'succeeded', phase: 'done' }), // finished before
    move('m4', { status: 'failed', error: 'no room' }), // new and finished
  ];

  test('lines mode: one line per new or changed move, nothing for unchanged ones', () => {
    assert.deepEqual(moveChangeLines(before, after), ['gear gear-m2 (shop-demo) n1 -> n2: target-started', 'gear gear-m4 (shop-demo) n1 -> n2: failed: no room']);
  });

  test('terminal mode: only moves that have just finished (the bar shows the rest)', () => {
    assert.deepEqual(moveChangeLines(before, after, true), ['gear gear-m4 (shop-demo) n1 -> n2: failed: no room']);
  });

  test('the first poll reports every move', () => {
    assert.equal(moveChangeLines(new Map(), after).length, 4);
  });
});

describe('progress and summaries', () => {
  test('moves: rolled back counts as failed; the longest pause over finished moves', () => {
    const moves = [move('a', { status: 'succeeded', pauseMs: 12 }), move('b', { status: 'rolled-back' }), move('c', { pauseMs: 80 }), move('d')];
    assert.deepEqual(progressOfMoves(moves), { total: 4, moved: 1, failed: 1, inFlight: 2, longestPauseMs: 80 });
  });

  test("a drain's counters come from the drain (moves not started yet are in its total)", () => {
    const shown = drain({ total: 20, moved: 12, failed: 1, inFlight: 3, moves: [move('a', { status: 'succeeded', pauseMs: 40 })] });
    assert.deepEqual(progressOfDrain(shown), { total: 20, moved: 12, failed: 1, inFlight: 3, longestPauseMs: 40 });
  });

  const summaries: Record<string, { input: string; want: string }> = {
    'a drain that succeeded': {
      input: drainSummary(drain({ status: 'succeeded', moved: 3, moves: [move('a', { status: 'succeeded', pauseMs: 40 })] })),
      want: 'drain of node n1 succeeded: 3 of 3 gears moved, longest pause 40 ms',
    },
    'a failed drain says how far it got and why': {
      input: drainSummary(drain({ status: 'failed', total: 20, moved: 17, failed: 3, reason: 'the deadline passed' })),
      want: 'drain of node n1 failed: 17 of 20 gears moved, 3 failed (the deadline passed)',
    },
    'a cancelled drain counts what is still in flight and not started': {
      input: drainSummary(drain({ status: 'cancelled', total: 20, moved: 12, inFlight: 2, reason: 'cancelled by admin' })),
      want: 'drain of node n1 cancelled: 12 of 20 gears moved, 2 in flight, 6 not started (cancelled by admin)',
    },
    'moves that all succeeded': {
      input: movesSummary([move('a', { status: 'succeeded', pauseMs: 3 }), move('b', { status: 'succeeded', pauseMs: 9 })]),
      want: '2 moves succeeded: 2 of 2 gears moved, longest pause 9 ms',
    },
    'one move that failed': {
      input: movesSummary([move('a', { status: 'failed', error: 'x' })]),
      want: '1 move did not all succeed: 0 of 1 gear moved, 1 failed',
    },
    'moves with a refused gear: counted, and each refusal said': {
      input: movesSummary([move('a', { status: 'succeeded' })], [{ gear: 'g9', code: 'no_capacity', message: 'no node of profile small can take a gear' }]),
      want: '1 move succeeded: 1 of 1 gear moved; 1 gear was refused: gear g9: no node of profile small can take a gear',
    },
    "the drain's opening line prefers the broker's separate plan sentence": {
      input: drainStartLine(drain({ plan: 'move 3 gears of node n1 to 1 other active node of district east: n2 (3)', reason: null })),
      want: 'drain of node n1: move 3 gears of node n1 to 1 other active node of district east: n2 (3) (4 at a time, deadline 2030-01-01T00:10:00.000Z)',
    },
    'a failed drain with a separate plan gives the failure as the reason': {
      input: drainSummary(drain({ status: 'failed', plan: 'move 3 gears …', reason: 'deadline passed', moved: 2, failed: 1 })),
      want: 'drain of node n1 failed: 2 of 3 gears moved, 1 failed (deadline passed)',
    },
    "the drain's opening line carries the planner's reason": {
      input: drainStartLine(drain()),
      want: 'drain of node n1: move 3 gears of node n1 to 2 other active nodes of district east: n2 (2), n3 (1) (4 at a time, deadline 2030-01-01T00:10:00.000Z)',
    },
  };
  for (const [name, { input, want }] of Object.entries(summaries)) test(name, () => assert.equal(input, want));

  test('the closing table shows each gear with its pause and error', () => {
    const table = movesTable([move('a', { status: 'succeeded', phase: 'done', pauseMs: 40 }), move('b', { status: 'failed', error: 'no room' }), move('c', { phase: 'routed-both' })]);
    assert.equal(
      table,
      [
        'GEAR    APP        FROM  TO  STATUS       PAUSE  ERROR',
        'gear-a  shop-demo  n1    n2  succeeded    40 ms  -',
        'gear-b  shop-demo  n1    n2  failed           -  no room',
        'gear-c  shop-demo  n1    n2  routed-both      -  -',
      ].join('\n'),
    );
  });
});

describe('ProgressDisplay', () => {
  const progress = { total: 2, moved: 1, failed: 0, inFlight: 1, longestPauseMs: 40 };

  test('not a terminal: only the lines, no bar and no control characters', () => {
    const written: string[] = [];
    const display = new ProgressDisplay((text) => written.push(text), false);
    display.update(['a', 'b'], progress);
    display.update([], progress);
    display.finish();
    assert.deepEqual(written, ['a\n', 'b\n']);
  });

  test('a terminal: the bar is redrawn in place, lines go above it, finish ends its line', () => {
    const written: string[] = [];
    const display = new ProgressDisplay((text) => written.push(text), true);
    display.update([], { ...progress, moved: 0 });
    display.update(['gear x moved'], progress);
    display.finish();
    assert.deepEqual(written, [
      '[..........] 0/2 moved, 1 in flight, longest pause 40 ms',
      '\r\x1b[Kgear x moved\n[#####.....] 1/2 moved, 1 in flight, longest pause 40 ms',
      '\n',
    ]);
  });
});

describe('--gear ids', () => {
  test('comma-separated and repeated, trimmed, each once, in order', () => {
    assert.deepEqual(collectGearIds('c', collectGearIds(' a, b ,,a', undefined)), ['a', 'b', 'c']);
  });
  test('no id at all is a usage error', () => {
    assert.throws(() => collectGearIds(' , ', undefined), InvalidArgumentError);
  });
});
