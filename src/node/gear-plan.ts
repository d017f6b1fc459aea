import type { GearObservedState } from '../core/model.ts';
import { holdsSourcePause, type DesiredGear, type DesiredMove } from './desired-gear.ts';
import type { GearRecord } from './gear-record.ts';

/** One local gear as the executor observed it just before planning. */
export interface LocalGear {
  readonly record: GearRecord;
  /** The recorded pid is alive, with the recorded start time, and not a zombie. */
  readonly processAlive: boolean;
  /** For a `starting` gear: its health check passed on this observation. */
  readonly healthy: boolean;
  /** The recorded process is alive but stopped (SIGSTOP: paused for a move, by this agent or a previous one). */
  readonly processStopped: boolean;
  /** This agent is copying the gear in from a move's source right now (an incoming gear). */
  readonly pullInProgress: boolean;
}

/** Timings of gear supervision; tests shorten them, operators rarely need to. */
export interface SupervisionPolicy {
  /** A started process must pass its health check within this, or it counts as a crash. */
  readonly startTimeoutMs: number;
  /** Crash backoff: first delay, doubled per consecutive crash up to the maximum. */
  readonly crashBackoffInitialMs: number;
  readonly crashBackoffMaxMs: number;
  /** Running this long without a crash resets the crash count (and so the backoff). */
  readonly stableAfterMs: number;
  /** From this many consecutive crashes the gear is reported `failed` (still retried). */
  readonly failedAfterCrashes: number;
  /** Failed source downloads are retried from this delay, doubling up to the crash maximum. */
  readonly sourceRetryInitialMs: number;
  /** How often a starting gear's health is probed. */
  readonly healthProbeIntervalMs: number;
  /** A gear paused for a move's final copy is released after this whatever the broker says (docs/moves.md: 30 s). */
  readonly movePauseLimitMs: number;
}

export const DEFAULT_SUPERVISION_POLICY: SupervisionPolicy = Object.freeze({
  startTimeoutMs: 30_000,
  crashBackoffInitialMs: 1_000,
  crashBackoffMaxMs: 30_000,
  stableAfterMs: 60_000,
  failedAfterCrashes: 5,
  sourceRetryInitialMs: 1_000,
  healthProbeIntervalMs: 200,
  movePauseLimitMs: 30_000,
});

export interface PlanContext {
  readonly now: number;
  /** The address gears listen on, for the endpoint reported to the broker. */
  readonly gearHost: string;
  readonly policy: SupervisionPolicy;
}

type Base = { readonly gearId: string; readonly reason: string };

/** What to do to one gear. Plain data: the executor carries it out, the log prints the reason. */
export type GearAction =
  | (Base & { readonly kind: 'create'; readonly desired: DesiredGear })
  | (Base & { readonly kind: 'remember-desired'; readonly desired: DesiredGear })
  | (Base & { readonly kind: 'install-source'; readonly sourceVersion: number })
  | (Base & { readonly kind: 'start'; readonly restartGeneration: number })
  | (Base & { readonly kind: 'restart'; readonly restartGeneration: number })
  | (Base & { readonly kind: 'stop' })
  | (Base & { readonly kind: 'mark-running' })
  | (Base & { readonly kind: 'mark-crashed'; readonly crashCount: number; readonly nextStartAt: number })
  | (Base & { readonly kind: 'reset-crashes' })
  | (Base & { readonly kind: 'remove' })
  | (Base & { readonly kind: 'report'; readonly observedState: GearObservedState; readonly endpoint: string | null })
  /** Target of a move: create the gear's directory as incoming and copy it from the source agent (in the background). */
  | (Base & { readonly kind: 'pull'; readonly desired: DesiredGear; readonly move: Extract<DesiredMove, { role: 'target' }> })
  | (Base & { readonly kind: 'report-move-started'; readonly moveId: string; readonly endpoint: string; readonly pauseMs: number })
  /** Stops the copy's process if any, and tells the broker; the copy then waits to be removed, never started. */
  | (Base & { readonly kind: 'report-move-failed'; readonly moveId: string; readonly error: string })
  /** The move is past routed-target: the copy is now simply this node's gear. */
  | (Base & { readonly kind: 'settle-incoming' })
  /** Source of a move: SIGCONT the gear paused for the final copy. */
  | (Base & { readonly kind: 'resume' })
  /** Source of a move: the desired list names the move the gear is paused for. */
  | (Base & { readonly kind: 'confirm-pause' });

export interface GearPlan {
  /** In order; actions of one gear must run in this order, different gears are independent. */
  readonly actions: readonly GearAction[];
  /** The earliest time planning again could decide something new without any event (null: none). */
  readonly wakeAt: number | null;
}

/** The delay before the restart that follows crash number `crashCount` (1-based). */
export function crashBackoffMs(crashCount: number, policy: SupervisionPolicy): number {
  return Math.min(policy.crashBackoffMaxMs, policy.crashBackoffInitialMs * 2 ** Math.max(0, crashCount - 1));
}

/** What the broker should be told about a gear in this local state (OpenShift v2 node facts). */
export function observedStateOf(local: Pick<LocalGear, 'record' | 'processAlive'>, policy: SupervisionPolicy): GearObservedState {
  const { record, processAlive } = local;
  const failing = record.crashCount >= policy.failedAfterCrashes;
  switch (record.phase) {
    case 'running':
      return processAlive ? 'started' : failing ? 'failed' : 'unknown';
    case 'stopped':
      // A gear that should run but does not yet (being created, waiting for its source) is not "stopped".
      return processAlive ? 'unknown' : record.desiredState === 'stopped' ? 'stopped' : 'unknown';
    case 'starting':
    case 'backoff':
      return failing ? 'failed' : 'unknown';
  }
}

function endpointOf(record: GearRecord, observed: GearObservedState, gearHost: string): string | null {
  return observed === 'started' && record.port !== null ? `${gearHost}:${record.port}` : null;
}

function identityChanged(record: GearRecord, desired: DesiredGear): boolean {
  return (
    record.desiredState !== desired.desiredState ||
    record.uid !== desired.uid ||
    record.app !== desired.app ||
    record.appId !== desired.appId ||
    record.domain !== desired.domain ||
    record.cartridge !== desired.cartridge ||
    record.gearProfile !== desired.gearProfile
  );
}

/**
 * Level-triggered reconciliation of a node's gears: the broker's desired set and what is on this
 * host in, the actions to converge out. Each call decides at most one lifecycle step per gear;
 * the caller plans again after acting, so a gear walks create → start → running over a few passes
 * and every step is re-decided from fresh observations.
 *
 * `desired` null means the agent has not heard from the broker yet (it just restarted, the broker
 * is down): local gears are then supervised by their last known desired state, and nothing is
 * created or removed.
 */
export function planGearActions(desired: readonly DesiredGear[] | null, local: readonly LocalGear[], context: PlanContext): GearPlan {
  const { now, policy } = context;
  const actions: GearAction[] = [];
  let wakeAt: number | null = null;
  const wakeBy = (time: number) => {
    wakeAt = wakeAt === null ? time : Math.min(wakeAt, time);
  };
  const localById = new Map(local.map((gear) => [gear.record.id, gear]));
  const desiredById = new Map((desired ?? []).map((gear) => [gear.id, gear]));

  for (const gear of desired ?? []) {
    if (localById.has(gear.id)) continue;
    const move = gear.move;
    if (move?.role === 'target') {
      // A copy starts only while the broker waits for it; an incoming gear first seen later (a
      // copy this node lost) is left for the broker's deadline to roll back.
      if (move.phase === 'copying') actions.push({ kind: 'pull', gearId: gear.id, desired: gear, move, reason: `gear ${gear.id} of ${gear.app}-${gear.domain} is moving here (move ${move.id}): copying it from ${move.source}` });
      continue;
    }
    actions.push({ kind: 'create', gearId: gear.id, desired: gear, reason: `gear ${gear.id} of ${gear.app}-${gear.domain} is placed on this node` });
  }

  for (const current of local) {
    const { record, processAlive, healthy } = current;
    const gearId = record.id;
    const target = desired === null ? undefined : desiredById.get(gearId);
    const pauseDecision = decidePause(current, desired, target, now);
    if (desired !== null && target === undefined) {
      // IMPORTANT: resume before removing, because a stopped process does not act on its stop
      // signal until continued: the graceful stop would always end in SIGKILL. This covers a
      // released source (moved away) and a rolled-back target (its copy is not wanted) alike.
      if (pauseDecision.kind !== 'none') actions.push({ kind: 'resume', gearId, reason: `gear ${gearId} is paused for a move and about to be removed` });
      actions.push({ kind: 'remove', gearId, reason: `gear ${gearId} is no longer placed on this node` });
      continue;
    }
    if (pauseDecision.kind === 'resume') actions.push({ kind: 'resume', gearId, reason: pauseDecision.reason });
    else if (pauseDecision.kind === 'confirm') actions.push({ kind: 'confirm-pause', gearId, reason: pauseDecision.reason });
    if (pauseDecision.kind === 'hold' || pauseDecision.kind === 'confirm') wakeBy(pauseDecision.until);
    if (target && identityChanged(record, target)) {
      actions.push({ kind: 'remember-desired', gearId, desired: target, reason: `the broker wants gear ${gearId} ${target.desiredState}` });
    }

    const incoming = record.incoming ?? null;
    if (incoming !== null && target?.move?.role === 'target' && target.move.id !== incoming.moveId) {
      // IMPORTANT: the copy of an earlier move is removed before the new move can pull, because
      // a move rolled back and retried to this node at once (a drain's next attempt) never takes
      // the gear out of the desired list: nothing else would remove the stale copy, and the new
      // move would wait for a pull that never starts until its deadline.
      actions.push({ kind: 'remove', gearId, reason: `gear ${gearId} holds the copy of move ${incoming.moveId}, but move ${target.move.id} is the one coming here now` });
      continue;
    }
    if (incoming !== null && incoming.state !== 'started-reported') {
      planIncoming(current, incoming, context, actions, wakeBy);
      continue;
    }
    if (incoming !== null && target !== undefined && target.move === undefined) {
      // The entry no longer names the move: past routed-target, the copy is the gear. Nothing
      // restarts it; the next pass reports it like any other gear.
      actions.push({ kind: 'settle-incoming', gearId, reason: `move ${incoming.moveId} of gear ${gearId} is committed: it is now this node's gear` });
      continue;
    }

    const wantState = target?.desiredState ?? record.desiredState;
    const generation = target?.restartGeneration ?? record.restartGeneration;
    const wantSource = target?.sourceVersion ?? null;
    const sourcePending = wantSource !== null && wantSource !== record.sourceVersion;
    const sourceMayTry = record.nextSourceAttemptAt === null || now >= record.nextSourceAttemptAt;

    // Report what the gear is now, before this pass changes it; the next pass reports the change.
    // Gears the broker has not confirmed (desired unknown) are not reported, nor a copy whose move
    // is not committed yet: the broker's gear row is still the source's, and a report from here
    // would overwrite the source's state and endpoint.
    if (target && incoming === null) {
      const observedState = observedStateOf(current, policy);
      const endpoint = endpointOf(record, observedState, context.gearHost);
      if (record.reported?.observedState !== observedState || record.reported.endpoint !== endpoint) {
        actions.push({ kind: 'report', gearId, observedState, endpoint, reason: `gear ${gearId} is ${observedState}` });
      }
    }

    if (wantState === 'stopped') {
      if (processAlive || record.phase !== 'stopped') {
        if (pauseDecision.kind === 'hold' || pauseDecision.kind === 'confirm') actions.push({ kind: 'resume', gearId, reason: `gear ${gearId} is paused for a move and about to be stopped` });
        actions.push({ kind: 'stop', gearId, reason: `gear ${gearId} should be stopped` });
      }
      continue;
    }

    // From here the gear should run.
    const processLost = (record.phase === 'running' || record.phase === 'starting') && !processAlive;
    if (processLost) {
      const crashCount = record.crashCount + 1;
      const nextStartAt = now + crashBackoffMs(crashCount, policy);
      actions.push({ kind: 'mark-crashed', gearId, crashCount, nextStartAt, reason: `gear ${gearId} exited (crash ${crashCount}); starting it again in ${Math.round((nextStartAt - now) / 1000)} s` });
      wakeBy(nextStartAt);
      continue;
    }

    if (sourcePending) {
      if (!sourceMayTry) {
        wakeBy(record.nextSourceAttemptAt!);
        continue;
      }
      actions.push({ kind: 'install-source', gearId, sourceVersion: wantSource, reason: `gear ${gearId} needs source version ${wantSource}` });
      if (processAlive) actions.push({ kind: 'restart', gearId, restartGeneration: generation, reason: `gear ${gearId} runs source version ${record.sourceVersion ?? 'built-in'}, not ${wantSource}` });
      continue;
    }

    switch (record.phase) {
      case 'stopped':
        actions.push({ kind: 'start', gearId, restartGeneration: generation, reason: `gear ${gearId} should be started` });
        break;
      case 'backoff':
        if (generation > record.restartGeneration) {
          actions.push({ kind: 'start', gearId, restartGeneration: generation, reason: `restart requested for crashed gear ${gearId}` });
        } else if (record.nextStartAt === null || now >= record.nextStartAt) {
          actions.push({ kind: 'start', gearId, restartGeneration: generation, reason: `gear ${gearId} backoff over after crash ${record.crashCount}` });
        } else {
          wakeBy(record.nextStartAt);
        }
        break;
      case 'starting':
        if (generation > record.restartGeneration) {
          actions.push({ kind: 'restart', gearId, restartGeneration: generation, reason: `restart generation ${generation} requested for gear ${gearId}` });
        } else if (healthy) {
          actions.push({ kind: 'mark-running', gearId, reason: `gear ${gearId} passed its health check` });
        } else if (record.startedAt !== null && now - record.startedAt >= policy.startTimeoutMs) {
          const crashCount = record.crashCount + 1;
          const nextStartAt = now + crashBackoffMs(crashCount, policy);
          actions.push({ kind: 'mark-crashed', gearId, crashCount, nextStartAt, reason: `gear ${gearId} not healthy within ${policy.startTimeoutMs / 1000} s (crash ${crashCount})` });
          wakeBy(nextStartAt);
        } else {
          wakeBy(now + policy.healthProbeIntervalMs);
        }
        break;
      case 'running':
        if (generation > record.restartGeneration) {
          actions.push({ kind: 'restart', gearId, restartGeneration: generation, reason: `restart generation ${generation} requested for gear ${gearId}` });
        } else if (record.crashCount > 0 && record.runningSince !== null) {
          const stableAt = record.runningSince + policy.stableAfterMs;
          if (now >= stableAt) actions.push({ kind: 'reset-crashes', gearId, reason: `gear ${gearId} ran ${policy.stableAfterMs / 1000} s without crashing` });
          else wakeBy(stableAt);
        }
        break;
    }
  }
  return Object.freeze({ actions: Object.freeze(actions), wakeAt });
}

type PauseDecision =
  | { readonly kind: 'none' }
  | { readonly kind: 'hold'; readonly until: number }
  | { readonly kind: 'confirm'; readonly until: number; readonly reason: string }
  | { readonly kind: 'resume'; readonly reason: string };

/**
 * Whether a gear paused for a move (the source side) stays paused. It is released when the
 * desired list says the move left copying/target-started (rolled back, or routed), when the pause
 * reaches its limit, or when the process is stopped with no pause on record (nobody will release
 * it otherwise). A desired entry that does not name the move yet may just lag the broker, so it
 * releases the pause only once the move has been seen there (`confirmed`).
 */
function decidePause(current: LocalGear, desired: readonly DesiredGear[] | null, target: DesiredGear | undefined, now: number): PauseDecision {
  const pause = current.record.pause ?? null;
  const gearId = current.record.id;
  if (pause === null) return current.processStopped ? { kind: 'resume', reason: `gear ${gearId} is stopped (SIGSTOP) but no move holds it` } : { kind: 'none' };
  if (!current.processAlive) return { kind: 'resume', reason: `gear ${gearId}'s paused process is gone: forget the pause` };
  if (now >= pause.until) return { kind: 'resume', reason: `gear ${gearId} was paused for move ${pause.moveId} for the longest a pause may last` };
  if (desired === null) return { kind: 'hold', until: pause.until };
  const move = target?.move;
  if (holdsSourcePause(move, pause.moveId)) {
    return pause.confirmed ? { kind: 'hold', until: pause.until } : { kind: 'confirm', until: pause.until, reason: `the desired list names move ${pause.moveId} that paused gear ${gearId}` };
  }
  if (move !== undefined && move.id === pause.moveId) return { kind: 'resume', reason: `move ${pause.moveId} of gear ${gearId} is ${move.phase}: the final copy is over` };
  if (pause.confirmed) return { kind: 'resume', reason: `move ${pause.moveId} of gear ${gearId} is no longer in the desired list (rolled back)` };
  return { kind: 'hold', until: pause.until };
}

/**
 * A gear arriving by a move, before its start is reported: copied in, started and health-checked
 * once, never restarted nor started from a partial copy. Any failure goes to the broker, which
 * rolls the move back; the source never stopped serving.
 */
function planIncoming(current: LocalGear, incoming: NonNullable<GearRecord['incoming']>, context: PlanContext, actions: GearAction[], wakeBy: (time: number) => void): void {
  const { record, processAlive, healthy } = current;
  const { now, policy } = context;
  const gearId = record.id;
  const moveId = incoming.moveId;
  const fail = (error: string) => actions.push({ kind: 'report-move-failed', gearId, moveId, error, reason: `move ${moveId} of gear ${gearId} failed here: ${error}` });
  switch (incoming.state) {
    case 'copying':
      // The copy runs in the background and wakes the reconciler when it ends. Without it, this
      // is what a killed agent left: a partial copy.
      if (!current.pullInProgress) fail('the target agent restarted during the copy; a partial copy is never started');
      return;
    case 'failed':
      fail(incoming.error ?? 'the copy failed');
      return;
    case 'failure-reported':
      return;
    case 'started-reported':
      return;
    case 'copied':
      break;
  }
  switch (record.phase) {
    case 'stopped':
      actions.push({ kind: 'start', gearId, restartGeneration: record.restartGeneration, reason: `gear ${gearId} is copied in (move ${moveId}): starting the copy` });
      return;
    case 'backoff':
      fail('the copy could not be started');
      return;
    case 'starting':
      if (!processAlive) fail('the copy exited before passing its health check');
      else if (healthy) actions.push({ kind: 'mark-running', gearId, reason: `the copy of gear ${gearId} passed its health check` });
      else if (record.startedAt !== null && now - record.startedAt >= policy.startTimeoutMs) fail(`the copy was not healthy within ${policy.startTimeoutMs / 1000} s`);
      else wakeBy(now + policy.healthProbeIntervalMs);
      return;
    case 'running': {
      if (!processAlive || record.port === null) {
        fail('the copy exited right after passing its health check');
        return;
      }
      const healthyAt = record.runningSince ?? now;
      const pauseMs = incoming.pauseRequestedAt === null ? 0 : Math.max(0, healthyAt - incoming.pauseRequestedAt);
      actions.push({ kind: 'report-move-started', gearId, moveId, endpoint: `${context.gearHost}:${record.port}`, pauseMs, reason: `the copy of gear ${gearId} runs (move ${moveId}, source paused ${pauseMs} ms)` });
      return;
    }
  }
}
