/**
 * The one-line progress of a drain or a batch of moves, as `geartide admin node drain` and
 * `geartide admin move` redraw it on a terminal:
 *
 *   [######x...] 12/20 moved, 1 failed, 3 in flight, longest pause 40 ms
 *
 * Pure: numbers in, text out. `#` are moved gears, `x` failed ones (rolled back included), `.`
 * the rest. Cells are rounded down, so the bar is full only when every gear is done.
 */

export interface MoveProgress {
  readonly total: number;
  readonly moved: number;
  /** Failed or rolled back: the gear stayed where it was. */
  readonly failed: number;
  readonly inFlight: number;
  /** The longest pause a source gear has had so far; null until a move reports one. */
  readonly longestPauseMs: number | null;
}

export const PROGRESS_BAR_WIDTH = 10;

export function formatProgressBar(progress: MoveProgress, width: number = PROGRESS_BAR_WIDTH): string {
  const total = Math.max(0, progress.total);
  const moved = clamp(progress.moved, 0, total);
  const failed = clamp(progress.failed, 0, total - moved);
  // Nothing to move is complete, not empty: a drain of an empty node is done at once.
  const movedCells = total === 0 ? width : Math.floor((moved * width) / total);
  const doneCells = total === 0 ? width : Math.floor(((moved + failed) * width) / total);
  const bar = '#'.repeat(movedCells) + 'x'.repeat(doneCells - movedCells) + '.'.repeat(width - doneCells);

  const parts = [`${moved}/${total} moved`];
  if (failed > 0) parts.push(`${failed} failed`);
  if (progress.inFlight > 0) parts.push(`${progress.inFlight} in flight`);
  if (progress.longestPauseMs !== null) parts.push(`longest pause ${formatPause(progress.longestPauseMs)}`);
  return `[${bar}] ${parts.join(', ')}`;
}

/** "0 ms", "40 ms", "1.2 s", "31 s": milliseconds while they read well, then seconds. */
export function formatPause(ms: number): string {
  const value = Math.max(0, Math.round(ms));
  if (value < 1000) return `${value} ms`;
  const seconds = value / 1000;
  return seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds)} s`;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), Math.max(low, high));
}
