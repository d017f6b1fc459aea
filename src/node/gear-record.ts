import type { DesiredState, GearObservedState } from '../core/model.ts';

/**
 * Where the agent is with one gear's process. The supervisor moves a gear through these:
 *
 *                 start                      health check passes
 *   stopped ─────────────────▶ starting ───────────────────────────▶ running
 *      ▲                          │  exits, or not healthy              │
 *      │ stop (from any state)    │  within the start timeout           │ exits (crash)
 *      │                          ▼                                     │
 *      └───────────────────── backoff ◀─────────────────────────────────┘
 *                               │  ▲
 *                               └──┘ nextStartAt reached: start again (1 s, 2 s … 30 s)
 *
 * `running` for 60 s resets the crash count. A restart (new restartGeneration, new source) is a
 * stop then a start. Reported to the broker as: running → started, stopped → stopped,
 * starting/backoff → unknown, backoff after FAILED_AFTER_CRASHES crashes → failed.
 *
 * A gear arriving by a move (docs/moves.md) goes through `incoming` states first, beside the
 * phases above; only a `copied` gear may start:
 *
 *   (desired, role target, phase copying; not local)
 *        │ pull: directory created, gear.json says copying, then files from the source agent
 *        ▼
 *     copying ──── copy error ────────────▶ failed ──report──▶ failure-reported
 *        │   ╲                                 ▲               (never started; the broker
 *        │    ╲ agent restarted mid-copy ──────┘                drops the gear, and the
 *        ▼                                     │                usual remove deletes it)
 *     copied ─── start … health check fails ───┘
 *        │ started, health check passed
 *        ▼
 *   started-reported ── desired entry without `move` (past routed-target) ──▶ incoming: null
 *                                                      (a normal gear: keeps running, no restart)
 *
 * On the source, a gear can be paused (SIGSTOP of its process group) for the final copy; `pause`
 * records it so that it is released (SIGCONT) when the move leaves the copy, after 30 s, or before
 * the gear is stopped, even by an agent restarted meanwhile.
 */
export type GearPhase = 'stopped' | 'starting' | 'running' | 'backoff';

/** What the agent last told the broker about a gear, so it reports only changes. */
export interface ReportedGearState {
  readonly observedState: GearObservedState;
  readonly endpoint: string | null;
}

/**
 * A gear's local state, kept in `<state-dir>/gears/<id>/gear.json` so a restarted agent knows
 * which process is whose (pid + start time), which port it had and what it last reported.
 */
export interface GearRecord {
  readonly id: string;
  readonly uid: number;
  readonly app: string;
  readonly appId: string;
  readonly domain: string;
  readonly cartridge: string;
  readonly gearProfile: string;
  /** The last desired state the broker gave, so a restarted agent supervises before it hears from the broker. */
  readonly desiredState: DesiredState;
  readonly phase: GearPhase;
  /** The gear's port on the gear host; kept across restarts while it stays free. */
  readonly port: number | null;
  readonly pid: number | null;
  /** /proc/<pid>/stat field 22 (start time in clock ticks since boot): a reused pid has another. */
  readonly pidStartTime: string | null;
  /** When the current process was spawned (epoch ms). */
  readonly startedAt: number | null;
  /** When the current process first passed its health check. */
  readonly runningSince: number | null;
  /** The restartGeneration the current (or last) process was started for. */
  readonly restartGeneration: number;
  /** The source version extracted into app/; null: none (built-in app). */
  readonly sourceVersion: number | null;
  /** Consecutive crashes since the gear last ran stably. */
  readonly crashCount: number;
  /** In backoff: when to start again. */
  readonly nextStartAt: number | null;
  /** Consecutive failed source downloads, and when to try again. */
  readonly sourceFailures: number;
  readonly nextSourceAttemptAt: number | null;
  readonly reported: ReportedGearState | null;
  /** Set on a gear arriving by a move until the move no longer names it; absent on older records. */
  readonly incoming?: IncomingMove | null;
  /** Set while this gear is paused for a move's final copy. */
  readonly pause?: MovePause | null;
}

export type IncomingMoveState = 'copying' | 'copied' | 'failed' | 'failure-reported' | 'started-reported';

/** A gear being copied here from another node. The move token is not kept: it is not needed after a restart. */
export interface IncomingMove {
  readonly moveId: string;
  readonly state: IncomingMoveState;
  /** When the source was asked to pause (epoch ms); null when the copy needed no pause. */
  readonly pauseRequestedAt: number | null;
  /** Why the copy failed (state failed / failure-reported). */
  readonly error: string | null;
}

export interface MovePause {
  readonly moveId: string;
  /** Released at this time whatever the broker says: a dead move never leaves a gear frozen. */
  readonly until: number;
  /** The desired list has named this move since the pause: its absence now means the move is over, not that the list lags. */
  readonly confirmed: boolean;
}
