import type { GearObservedState } from '../core/model.ts';
import type { DesiredGear } from './desired-gear.ts';
import type { GearRecord } from './gear-record.ts';

/** One local gear as the executor observed it just before planning. */
export interface LocalGear {
  readonly record: GearRecord;
  /** The recorded pid is alive, with the recorded start time, and not a zombie. */
  readonly processAlive: boolean;
  /** For a `starting` gear: its health check passed on this observation. */
  readonly healthy: boolean;
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
}

export const DEFAULT_SUPERVISION_POLICY: SupervisionPolicy = Object.freeze({
  startTimeoutMs: 30_000,
  crashBackoffInitialMs: 1_000,
  crashBackoffMaxMs: 30_000,
  stableAfterMs: 60_000,
  failedAfterCrashes: 5,
  sourceRetryInitialMs: 1_000,
  healthProbeIntervalMs: 200,
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
  | (Base & { readonly kind: 'report'; readonly observedState: GearObservedState; readonly endpoint: string | null });

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
    if (!localById.has(gear.id)) actions.push({ kind: 'create', gearId: gear.id, desired: gear, reason: `gear ${gear.id} of ${gear.app}-${gear.domain} is placed on this node` });
  }

  for (const current of local) {
    const { record, processAlive, healthy } = current;
    const gearId = record.id;
    const target = desired === null ? undefined : desiredById.get(gearId);
    if (desired !== null && target === undefined) {
      actions.push({ kind: 'remove', gearId, reason: `gear ${gearId} is no longer placed on this node` });
      continue;
    }
    if (target && identityChanged(record, target)) {
      actions.push({ kind: 'remember-desired', gearId, desired: target, reason: `the broker wants gear ${gearId} ${target.desiredState}` });
    }
    const wantState = target?.desiredState ?? record.desiredState;
    const generation = target?.restartGeneration ?? record.restartGeneration;
    const wantSource = target?.sourceVersion ?? null;
    const sourcePending = wantSource !== null && wantSource !== record.sourceVersion;
    const sourceMayTry = record.nextSourceAttemptAt === null || now >= record.nextSourceAttemptAt;

    // Report what the gear is now, before this pass changes it; the next pass reports the change.
    // Gears the broker has not confirmed (desired unknown) are not reported.
    if (target) {
      const observedState = observedStateOf(current, policy);
      const endpoint = endpointOf(record, observedState, context.gearHost);
      if (record.reported?.observedState !== observedState || record.reported.endpoint !== endpoint) {
        actions.push({ kind: 'report', gearId, observedState, endpoint, reason: `gear ${gearId} is ${observedState}` });
      }
    }

    if (wantState === 'stopped') {
      if (processAlive || record.phase !== 'stopped') actions.push({ kind: 'stop', gearId, reason: `gear ${gearId} should be stopped` });
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
