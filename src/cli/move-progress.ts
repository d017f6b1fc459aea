/**
 * What `geartide admin move` and `geartide admin node drain` print while they follow the broker:
 * counts from a Drain or a list of Moves, one line per change, the closing summary and table.
 * Pure functions over the API's JSON, plus `ProgressDisplay`, which only decides *how* to write:
 *
 *   terminal (TTY)   the bar redrawn in place (\r, erase line); finished and failed gears are
 *                    printed above it, so the scrollback keeps what happened to each gear
 *   pipe, CI, file   one line per change (every phase), never a control character
 */
import type { ApiDrain, ApiMove, ApiRefusedMove } from './api-types.ts';
import { formatPause, formatProgressBar } from './progress-bar.ts';
import type { MoveProgress } from './progress-bar.ts';
import { formatTable } from './table.ts';

export function progressOfMoves(moves: readonly ApiMove[]): MoveProgress {
  return {
    total: moves.length,
    moved: moves.filter((move) => move.status === 'succeeded').length,
    failed: moves.filter((move) => move.status === 'failed' || move.status === 'rolled-back').length,
    inFlight: moves.filter((move) => move.status === 'running').length,
    longestPauseMs: longestPause(moves),
  };
}

/** The drain's own counters (they include moves not started yet); the pause from its moves. */
export function progressOfDrain(drain: ApiDrain): MoveProgress {
  return { total: drain.total, moved: drain.moved, failed: drain.failed, inFlight: drain.inFlight, longestPauseMs: longestPause(drain.moves) };
}

function longestPause(moves: readonly ApiMove[]): number | null {
  let longest: number | null = null;
  for (const move of moves) if (move.pauseMs !== null && (longest === null || move.pauseMs > longest)) longest = move.pauseMs;
  return longest;
}

export function movesDone(moves: readonly ApiMove[]): boolean {
  return moves.every((move) => move.status !== 'running');
}

export function drainDone(drain: ApiDrain): boolean {
  return drain.status !== 'running';
}

export function isFinished(move: ApiMove): boolean {
  return move.status !== 'running';
}

/** "gear 1a2b (shop-demo) n1 -> n2: copying" and, when it ends, "moved, pause 40 ms" or why not. */
export function moveLine(move: ApiMove): string {
  const head = `gear ${move.gear} (${move.app}-${move.domain}) ${move.from} -> ${move.to}:`;
  const why = move.error === null ? '' : `: ${oneLine(move.error)}`;
  switch (move.status) {
    case 'succeeded':
      return `${head} moved${move.pauseMs === null ? '' : `, pause ${formatPause(move.pauseMs)}`}`;
    case 'failed':
      return `${head} failed${why}`;
    case 'rolled-back':
      return `${head} rolled back, the gear stays on ${move.from}${why}`;
    default:
      return `${head} ${move.phase}`;
  }
}

/**
 * One line per move that is new or changed since `previous` (keyed by move id). With
 * `finishedOnly`, only moves that have just finished (the terminal's scrollback lines).
 */
export function moveChangeLines(previous: ReadonlyMap<string, ApiMove>, current: readonly ApiMove[], finishedOnly = false): string[] {
  const lines: string[] = [];
  for (const move of current) {
    const before = previous.get(move.id);
    if (before !== undefined && before.phase === move.phase && before.status === move.status) continue;
    if (finishedOnly && (!isFinished(move) || (before !== undefined && isFinished(before)))) continue;
    lines.push(moveLine(move));
  }
  return lines;
}

/** The drain's opening line: what the planner decided, how many at a time, until when. */
export function drainStartLine(drain: ApiDrain): string {
  const sentence = drain.plan ?? (drain.status === 'running' ? drain.reason : null);
  const plan = sentence === null || sentence === undefined || sentence === '' ? `${gears(drain.total)} to move` : oneLine(sentence);
  return `drain of node ${drain.node}: ${plan} (${drain.parallel} at a time, deadline ${drain.deadline})`;
}

/** "drain of node n1 succeeded: 20 of 20 gears moved, longest pause 40 ms" */
export function drainSummary(drain: ApiDrain): string {
  const progress = progressOfDrain(drain);
  const counts = countsSentence(progress);
  // Without a separate `plan`, `reason` may be the planner's sentence: not a why for a failure.
  const why = drain.status === 'succeeded' || drain.status === 'running' || drain.reason === drain.plan ? null : drain.reason;
  const reason = why === null || why === undefined ? '' : ` (${oneLine(why)})`;
  return `drain of node ${drain.node} ${drain.status}: ${counts}${reason}`;
}

/** "3 moves succeeded: 3 of 3 gears moved, longest pause 40 ms"; refused gears count as not moved. */
export function movesSummary(moves: readonly ApiMove[], refused: readonly ApiRefusedMove[] = []): string {
  const progress = progressOfMoves(moves);
  const outcome = progress.moved === progress.total ? 'succeeded' : progress.inFlight > 0 ? 'still running' : 'did not all succeed';
  const summary = `${moves.length === 1 ? '1 move' : `${moves.length} moves`} ${outcome}: ${countsSentence(progress)}`;
  if (refused.length === 0) return summary;
  return `${summary}; ${refused.length === 1 ? '1 gear was' : `${refused.length} gears were`} refused: ${refused.map(refusedLine).join('; ')}`;
}

export function refusedLine(refused: ApiRefusedMove): string {
  return `gear ${refused.gear}: ${oneLine(refused.message)}`;
}

function countsSentence(progress: MoveProgress): string {
  const parts = [`${progress.moved} of ${gears(progress.total)} moved`];
  if (progress.failed > 0) parts.push(`${progress.failed} failed`);
  if (progress.inFlight > 0) parts.push(`${progress.inFlight} in flight`);
  if (progress.total - progress.moved - progress.failed - progress.inFlight > 0) parts.push(`${progress.total - progress.moved - progress.failed - progress.inFlight} not started`);
  let sentence = parts.join(', ');
  if (progress.longestPauseMs !== null) sentence += `, longest pause ${formatPause(progress.longestPauseMs)}`;
  return sentence;
}

/** The closing report: each gear, where it went, how long it paused, why it failed. */
export function movesTable(moves: readonly ApiMove[]): string {
  return formatTable<ApiMove>(
    [
      { header: 'gear', value: (move) => move.gear },
      { header: 'app', value: (move) => `${move.app}-${move.domain}` },
      { header: 'from', value: (move) => move.from },
      { header: 'to', value: (move) => move.to },
      { header: 'status', value: (move) => (move.status === 'running' ? move.phase : move.status) },
      { header: 'pause', value: (move) => (move.pauseMs === null ? null : formatPause(move.pauseMs)), align: 'right' },
      { header: 'error', value: (move) => move.error },
    ],
    moves,
  );
}

function gears(count: number): string {
  return count === 1 ? '1 gear' : `${count} gears`;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** Erase from the cursor to the end of the line (ANSI EL). */
const ERASE_LINE = '\x1b[K';

/**
 * Writes a follow's output to a stream. On a terminal the bar stays on the last line: each update
 * returns to the line's start, erases it, prints the new lines above and redraws the bar.
 */
export class ProgressDisplay {
  #barShown = false;

  constructor(
    private readonly write: (text: string) => void,
    readonly tty: boolean,
  ) {}

  /** `lines`: what changed (see `moveChangeLines`); `progress`: the bar's numbers (TTY only). */
  update(lines: readonly string[], progress: MoveProgress): void {
    if (!this.tty) {
      for (const line of lines) this.write(`${line}\n`);
      return;
    }
    let text = this.#barShown ? `\r${ERASE_LINE}` : '';
    for (const line of lines) text += `${line}\n`;
    text += formatProgressBar(progress);
    this.write(text);
    this.#barShown = true;
  }

  /** Ends the bar's line, so whatever follows starts on a line of its own. */
  finish(): void {
    if (this.tty && this.#barShown) this.write('\n');
    this.#barShown = false;
  }
}
