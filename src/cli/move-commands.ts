import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { GeartideError, isGeartideError } from '../core/errors.ts';
import type { ApiDrain, ApiMove, ApiRefusedMove, CreateMovesRequest } from './api-types.ts';
import type { CliContext } from './cli-context.ts';
import {
  ProgressDisplay,
  drainDone,
  drainStartLine,
  drainSummary,
  moveChangeLines,
  movesDone,
  movesSummary,
  movesTable,
  progressOfDrain,
  progressOfMoves,
  refusedLine,
} from './move-progress.ts';
import type { MoveProgress } from './progress-bar.ts';

/** How often a follow asks the broker (docs/moves.md: moves take seconds, the bar should move). */
export const FOLLOW_POLL_MS = 500;

interface MoveOptions {
  gear: string[];
  to?: string;
  changeDistrict?: boolean;
}

/** `geartide admin move`: oo-admin-move, without the downtime (docs/moves.md). */
export function registerAdminMoveCommand(admin: Command, context: CliContext): void {
  admin
    .command('move')
    .description('move gears to another node host: the copy starts first, then the route switches (follows until done; Ctrl-C stops following)')
    .requiredOption('--gear <ids>', 'gear id(s), comma-separated; the option may be repeated', collectGearIds)
    .option('--to <node>', 'target node host (default: the placement planner chooses, in the gear\'s district)')
    .option('--change-district', 'allow a node of another district of the profile (the gear gets a new UID there)')
    .action(async (options: MoveOptions, command: Command) => {
      const body: CreateMovesRequest = { gears: options.gear };
      if (options.to !== undefined) body.to = options.to;
      if (options.changeDistrict === true) body.changeDistrict = true;
      const started = await context.client().createMoves(body);
      await followMoves(context, started.items, context.wantsJson(command), started.refused ?? []);
    });
}

/** Commander collector for `--gear a,b --gear c`: ids in order, each once. */
export function collectGearIds(value: string, previous: string[] | undefined): string[] {
  const ids = value
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  if (ids.length === 0) throw new InvalidArgumentError('expected one or more gear ids, comma-separated');
  return [...new Set([...(previous ?? []), ...ids])];
}

/** Follows moves until every one has finished; fails (exit 1) unless all succeeded and none was refused. */
export async function followMoves(context: CliContext, initial: readonly ApiMove[], json: boolean, refused: readonly ApiRefusedMove[] = []): Promise<void> {
  const client = context.client();
  // Said at once: the operator may want to Ctrl-C and fix the command rather than wait.
  if (!json) for (const each of refused) context.warn(`refused: ${refusedLine(each)}`);
  let previous = new Map<string, ApiMove>();
  const outcome = await follow<readonly ApiMove[]>(context, {
    initial,
    json,
    // One GET per move: a move command names a handful of gears, and /moves/:id is the contract.
    poll: (current) => Promise.all(current.map((move) => (move.status === 'running' ? client.getMove(move.id) : Promise.resolve(move)))),
    done: movesDone,
    progress: progressOfMoves,
    changes: (moves, display) => {
      const lines = moveChangeLines(previous, moves, display.tty);
      previous = new Map(moves.map((move) => [move.id, move]));
      return lines;
    },
    interrupted: (moves) => {
      const running = moves.filter((move) => move.status === 'running').map((move) => move.id);
      return `stopped following; ${running.length === 1 ? 'the move goes' : `the ${running.length} running moves go`} on on the broker and each finishes or rolls back by itself (move ${running.join(', ')}: GET /api/v1/moves/<id>)`;
    },
  });
  if (outcome.interrupted) return;
  const moves = outcome.state;
  if (json) context.printJson({ items: moves, refused });
  else if (moves.length > 0) context.print(movesTable(moves));
  const progress = progressOfMoves(moves);
  if (progress.moved !== progress.total || refused.length > 0) throw new GeartideError('moves_failed', 'conflict', movesSummary(moves, refused));
  if (!json) context.print(movesSummary(moves));
}

/** Follows a node's drain until it ends; fails (exit 1) unless every gear moved. */
export async function followDrain(context: CliContext, initial: ApiDrain, json: boolean): Promise<void> {
  const client = context.client();
  let previousDrain: ApiDrain | undefined;
  let previousMoves = new Map<string, ApiMove>();
  const outcome = await follow<ApiDrain>(context, {
    initial,
    json,
    poll: () => client.getDrain(initial.node),
    done: drainDone,
    progress: progressOfDrain,
    changes: (drain, display) => {
      const lines = previousDrain === undefined ? [drainStartLine(drain)] : [];
      lines.push(...moveChangeLines(previousMoves, drain.moves, display.tty));
      previousDrain = drain;
      previousMoves = new Map(drain.moves.map((move) => [move.id, move]));
      return lines;
    },
    interrupted: (drain) =>
      `stopped following; the drain of node ${drain.node} goes on on the broker: \`geartide admin node drain-status ${drain.node} --follow\` follows it again, \`geartide admin node cancel-drain ${drain.node}\` cancels it`,
  });
  if (outcome.interrupted) return;
  const drain = outcome.state;
  if (json) context.printJson(drain);
  else if (drain.moves.length > 0) context.print(movesTable(drain.moves));
  if (drain.status !== 'succeeded') throw new GeartideError('drain_failed', 'conflict', drainSummary(drain));
  if (!json) context.print(drainSummary(drain));
}

interface FollowSpec<State> {
  readonly initial: State;
  readonly json: boolean;
  readonly poll: (current: State) => Promise<State>;
  readonly done: (state: State) => boolean;
  readonly progress: (state: State) => MoveProgress;
  /** The lines to print for what changed since the last call (it keeps its own memory). */
  readonly changes: (state: State, display: ProgressDisplay) => string[];
  /** What to say on Ctrl-C: that the work goes on, and how to cancel or follow it again. */
  readonly interrupted: (state: State) => string;
}

/**
 * Polls every FOLLOW_POLL_MS until `done`, rendering each state (nothing with --json). Ctrl-C
 * stops following, not the work: the broker runs moves and drains without the CLI. A broker that
 * cannot be reached for a while (restart) is waited for, with one warning, as `events --follow`.
 */
async function follow<State>(context: CliContext, spec: FollowSpec<State>): Promise<{ state: State; interrupted: boolean }> {
  const display = new ProgressDisplay((text) => context.io.stdout.write(text), isTerminal(context.io.stdout));
  const abort = new AbortController();
  // With a listener installed node does not kill the process on Ctrl-C: we say what goes on.
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  let state = spec.initial;
  let warned = false;
  const render = (): void => {
    if (!spec.json) display.update(spec.changes(state, display), spec.progress(state));
  };
  try {
    render();
    while (!spec.done(state)) {
      try {
        await sleep(FOLLOW_POLL_MS, undefined, { signal: abort.signal });
      } catch {
        break; // Ctrl-C while waiting
      }
      try {
        state = await spec.poll(state);
        warned = false;
      } catch (error) {
        if (!isGeartideError(error) || error.category !== 'transient') throw error;
        if (!warned) {
          display.finish();
          context.warn(`warning: ${error.message}; still following (Ctrl-C to stop)`);
        }
        warned = true;
        continue;
      }
      render();
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    display.finish();
  }
  if (abort.signal.aborted && !spec.done(state)) {
    context.warn(spec.interrupted(state));
    if (spec.json) context.printJson(state);
    // 130 (128 + SIGINT), as a shell reports an interrupted command: not "all moved".
    process.exitCode = 130;
    return { state, interrupted: true };
  }
  return { state, interrupted: false };
}

function isTerminal(stream: { write(text: string): unknown }): boolean {
  return (stream as { isTTY?: unknown }).isTTY === true;
}
