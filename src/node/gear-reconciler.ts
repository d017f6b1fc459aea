import type { Logger } from 'pino';

import type { GearCounts } from '../core/model.ts';
import type { DesiredGear } from './desired-gear.ts';
import type { GearExecutor } from './gear-executor.ts';
import { observedStateOf, planGearActions, type GearAction, type LocalGear, type SupervisionPolicy } from './gear-plan.ts';

/** With nothing timed to wait for, look again this often: adopted processes give no exit event. */
const IDLE_PASS_MS = 1000;

/**
 * The agent's control loop: observe every local gear, plan against the desired set, execute.
 * One pass at a time (a gear is never started twice by overlapping passes); a pass that acted is
 * followed at once by another, so multi-step changes walk through without waiting; otherwise the
 * loop sleeps until the plan's wake time, a process exit, a new desired set, or IDLE_PASS_MS.
 */
export class GearReconciler {
  private desired: readonly DesiredGear[] | null = null;
  private stopped = false;
  private wake: (() => void) | undefined;
  private kicked = false;
  private loop: Promise<void> | undefined;
  private counts: GearCounts = { started: 0, idle: 0, stopped: 0, unknown: 0 };

  constructor(
    private readonly executor: GearExecutor,
    private readonly settings: { readonly gearHost: string; readonly policy: SupervisionPolicy; readonly clock?: () => number },
    private readonly log: Logger,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** The broker's latest desired set for this node. */
  setDesired(items: readonly DesiredGear[]): void {
    this.desired = items;
    this.kick();
  }

  /** Something changed (a process exited): plan again now. */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** Gear counts by state at the last pass, for the heartbeat (OpenShift v2 node facts). */
  facts(): GearCounts {
    return this.counts;
  }

  /** Finishes the pass in progress and stops; gear processes are left as they are. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let delay = IDLE_PASS_MS;
      try {
        delay = await this.pass();
      } catch (error) {
        this.log.error({ err: error }, 'reconcile pass failed');
      }
      await this.sleep(delay);
    }
  }

  /** One observe → plan → execute pass; returns how long to wait before the next. */
  async pass(): Promise<number> {
    const clock = this.settings.clock ?? Date.now;
    const local: LocalGear[] = await Promise.all(this.executor.list().map((record) => this.executor.observe(record)));
    this.counts = countGears(local, this.settings.policy);
    const now = clock();
    const plan = planGearActions(this.desired, local, { now, gearHost: this.settings.gearHost, policy: this.settings.policy });
    if (plan.actions.length === 0) return plan.wakeAt === null ? IDLE_PASS_MS : Math.max(0, Math.min(IDLE_PASS_MS, plan.wakeAt - now));

    const byGear = new Map<string, GearAction[]>();
    for (const action of plan.actions) byGear.set(action.gearId, [...(byGear.get(action.gearId) ?? []), action]);
    let failures = 0;
    await Promise.all(
      [...byGear.values()].map(async (actions) => {
        for (const action of actions) {
          if (this.stopped) return;
          try {
            // Reports are frequent and dull; the lifecycle steps are what an operator reads.
            if (action.kind !== 'report') this.log.info({ gear: action.gearId, action: action.kind }, action.reason);
            await this.executor.execute(action, now);
          } catch (error) {
            failures++;
            // A broker that is down is logged once by the heartbeat loop; reports just retry.
            this.log[action.kind === 'report' ? 'debug' : 'warn']({ err: error, gear: action.gearId, action: action.kind }, `could not ${action.kind} gear ${action.gearId}: ${(error as Error).message}`);
            return; // the gear's later actions depended on this one
          }
        }
      }),
    );
    // Acted: look again at once. Failed: not at once, so a refusing broker is not hammered.
    return failures > 0 ? IDLE_PASS_MS : 0;
  }

  private sleep(ms: number): Promise<void> {
    if (this.kicked || this.stopped) {
      this.kicked = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    }).then(() => {
      this.kicked = false;
    });
  }
}

export function countGears(local: readonly LocalGear[], policy: SupervisionPolicy): GearCounts {
  const counts = { started: 0, idle: 0, stopped: 0, unknown: 0 };
  for (const gear of local) {
    const state = observedStateOf(gear, policy);
    if (state === 'started') counts.started++;
    else if (state === 'stopped') counts.stopped++;
    else if (state === 'idle') counts.idle++;
    else counts.unknown++;
  }
  return counts;
}
