import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatPause, formatProgressBar } from '../../src/cli/progress-bar.ts';
import type { MoveProgress } from '../../src/cli/progress-bar.ts';

function progress(overrides: Partial<MoveProgress>): MoveProgress {
  return { total: 20, moved: 0, failed: 0, inFlight: 0, longestPauseMs: null, ...overrides };
}

describe('formatProgressBar', () => {
  const cases: Record<string, { input: MoveProgress; want: string }> = {
    'nothing moved yet, nothing in flight: an empty bar and the count alone': {
      input: progress({}),
      want: '[..........] 0/20 moved',
    },
    'the example of the brief: moved, failed, in flight and the longest pause': {
      input: progress({ moved: 12, failed: 1, inFlight: 3, longestPauseMs: 40 }),
      want: '[######....] 12/20 moved, 1 failed, 3 in flight, longest pause 40 ms',
    },
    'failed gears are x cells after the moved ones': {
      input: progress({ total: 10, moved: 5, failed: 3 }),
      want: '[#####xxx..] 5/10 moved, 3 failed',
    },
    'cells round down: 19 of 20 is not a full bar': {
      input: progress({ moved: 19, inFlight: 1 }),
      want: '[#########.] 19/20 moved, 1 in flight',
    },
    'everything moved: a full bar': {
      input: progress({ moved: 20, longestPauseMs: 1234 }),
      want: '[##########] 20/20 moved, longest pause 1.2 s',
    },
    'a drain of an empty node is complete, not empty': {
      input: progress({ total: 0 }),
      want: '[##########] 0/0 moved',
    },
    'counts past the total (a broker mid-update) never overflow the bar': {
      input: progress({ total: 4, moved: 3, failed: 5 }),
      want: '[#######xxx] 3/4 moved, 1 failed',
    },
    'a zero pause is shown: the copy needed no pause at all': {
      input: progress({ total: 1, moved: 1, longestPauseMs: 0 }),
      want: '[##########] 1/1 moved, longest pause 0 ms',
    },
  };
  for (const [name, { input, want }] of Object.entries(cases)) {
    test(name, () => assert.equal(formatProgressBar(input), want));
  }

  test('the width is a parameter', () => {
    assert.equal(formatProgressBar(progress({ total: 4, moved: 1 }), 4), '[#...] 1/4 moved');
  });
});

describe('formatPause', () => {
  const cases: Record<string, { input: number; want: string }> = {
    'milliseconds below a second': { input: 40, want: '40 ms' },
    'rounded to a whole millisecond': { input: 39.6, want: '40 ms' },
    'one decimal of a second below ten seconds': { input: 1250, want: '1.3 s' },
    'whole seconds from ten on (the source is released after 30 s at most)': { input: 30_000, want: '30 s' },
    'never negative': { input: -5, want: '0 ms' },
  };
  for (const [name, { input, want }] of Object.entries(cases)) {
    test(name, () => assert.equal(formatPause(input), want));
  }
});
