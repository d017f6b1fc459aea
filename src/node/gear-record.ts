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
}
