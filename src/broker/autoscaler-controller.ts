import { randomUUID } from 'node:crypto';

import type { Logger } from 'pino';

import { planScale, type PoolMemory, type ScalePlan } from '../core/scale-plan.ts';
import type { Provider } from '../providers/provider.ts';
import type { Store } from '../store/store.ts';
import type { AutoscaleConfig, PoolConfig } from './broker-config.ts';
import type { ChangeNotifier } from './change-notifier.ts';
import type { EventRecorder } from './event-recorder.ts';
import type { ScaleExecutor } from './scale-executor.ts';
import { SCALE_DOWN, SCALE_UP, loadScaleSnapshot, scalePolicy } from './scale-snapshot.ts';

export const AUTOSCALER_LEASE = 'autoscaler';
/** The least time between two passes, however often the controller is woken. */
const MIN_PASS_GAP_MS = 100;

/** What one pass decided for a pool, and how long planning took. */
export interface PoolPass {
  readonly pool: string;
  readonly plan: ScalePlan;
  readonly planMs: number;
  readonly at: number;
  /** The pool's memory the plan was made from (to tell what changed). */
  readonly memoryBefore: PoolMemory;
}

export interface AutoscalerObserver {
  planned?(pass: PoolPass): void;
}

/**
 * The autoscaler's loop: every AUTOSCALE_INTERVAL, on the broker that holds the `autoscaler`
 * lease only, it
 *   1. moves every running scale operation on (first: a restarted broker finishes what the
 *      last one left half done before deciding anything new — the Karpenter way);
 *   2. for each pool, reads a fresh snapshot, asks `planScale`, saves the pool's memory, and
 *      hands an acting plan to the ScaleExecutor (or cancels a drain).
 * Plans that act are events (the executor records them); a refusal or a new reason to wait is
 * an event when it starts, not on every pass.
 */
export class AutoscalerController {
  private stopped = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly holder = `broker-${randomUUID()}`;
  /** The last situation recorded as an event, per pool (kind and code), so waits are told once. */
  private readonly told = new Map<string, string>();
  private readonly last = new Map<string, PoolPass>();
  private leader = false;

  constructor(
    private readonly store: Store,
    private readonly config: AutoscaleConfig,
    private readonly providers: ReadonlyMap<string, Provider>,
    private readonly executor: ScaleExecutor,
    private readonly events: EventRecorder,
    private readonly changes: ChangeNotifier,
    private readonly clock: () => number,
    private readonly log: Logger,
    private readonly observer: AutoscalerObserver = {},
  ) {}

  get pools(): readonly PoolConfig[] {
    return this.config.pools;
  }

  /** Whether this broker ran the last pass as the leader. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** The last pass's plan for each pool (on the leader). */
  lastPasses(): PoolPass[] {
    return [...this.last.values()];
  }

  start(): void {
    this.stopped = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    await this.loop;
    if (this.leader) await this.store.releaseLease(AUTOSCALER_LEASE, this.holder).catch(() => undefined);
    this.leader = false;
  }

  /** Runs a pass now instead of at the next interval (a refused app create, a resume). */
  wake(): void {
    this.wakeUp?.();
  }

  private wakeUp: (() => void) | undefined;

  /** What each pool would do now, and why — changing nothing (the dry run). */
  async dryRun(): Promise<PoolPass[]> {
    const passes: PoolPass[] = [];
    for (const pool of this.config.pools) passes.push(await this.planPool(pool));
    return passes;
  }

  /** One pass (tests drive it directly). Returns the plans it acted on, or [] when not the leader. */
  async passOnce(): Promise<PoolPass[]> {
    const interval = this.config.intervalSeconds * 1000;
    this.leader = await this.store.acquireLease({ name: AUTOSCALER_LEASE, holder: this.holder, ttlMs: Math.max(3 * interval, 5000), now: this.clock() });
    if (!this.leader) return [];

    await this.stepOperations();

    const passes: PoolPass[] = [];
    for (const pool of this.config.pools) {
      try {
        const pass = await this.planPool(pool);
        passes.push(pass);
        this.last.set(pool.name, pass);
        this.observer.planned?.(pass);
        await this.act(pass);
      } catch (error) {
        this.log.error({ err: error, pool: pool.name }, 'autoscaler pass failed for the pool; retrying on the next pass');
      }
    }
    return passes;
  }

  /** Moves every running scale operation on as far as it goes now (each pass starts with this). */
  async stepOperations(): Promise<void> {
    const running = await this.store.listOperations({ status: ['running'] });
    for (const operation of running.filter((each) => each.kind === SCALE_UP || each.kind === SCALE_DOWN)) {
      try {
        while (await this.executor.step(operation.id));
      } catch (error) {
        this.log.error({ err: error, operation: operation.id }, 'a scale operation step failed; retrying on the next pass');
      }
    }
  }

  private async planPool(pool: PoolConfig): Promise<PoolPass> {
    const provider = this.providers.get(pool.name)!;
    const policy = scalePolicy(this.config, pool);
    // One instant for the snapshot (which gears it reads depends on it) and the plan.
    const at = this.clock();
    const snapshot = await loadScaleSnapshot(this.store, pool, policy, provider, this.log, at);
    const started = process.hrtime.bigint();
    const plan = planScale(snapshot, policy, at);
    const planMs = Number(process.hrtime.bigint() - started) / 1e6;
    return { pool: pool.name, plan, planMs, at, memoryBefore: snapshot.memory };
  }

  private async act(pass: PoolPass): Promise<void> {
    const { plan } = pass;
    const before = pass.memoryBefore;
    if (plan.kind === 'scale-up') {
      await this.executor.startScaleUp(plan);
    } else if (plan.kind === 'scale-down') {
      await this.executor.startScaleDown(plan);
    } else if (plan.kind === 'cancel-drain') {
      await this.store.savePoolMemory(plan.pool, plan.memory, pass.at);
      await this.events.record({ kind: 'pool.cancel-drain', subject: `pool:${plan.pool}`, message: `pool ${plan.pool}: ${plan.reason}`, data: { node: plan.nodeName, operation: plan.operationId } });
      await this.executor.cancelScaleDown(plan.operationId, 'the autoscaler (demand is back)');
    } else if (JSON.stringify(plan.memory) !== JSON.stringify(before)) {
      await this.store.savePoolMemory(plan.pool, plan.memory, pass.at);
    }
    await this.tell(pass, before);
    // No notify for a plan that changed nothing watchers see: a waiting app create is woken by
    // notify and wakes this controller in turn, and SQLite answers synchronously, so the two
    // would ping-pong in microtasks and starve the event loop. Executors notify what they change.
    if (plan.kind !== 'wait' && plan.kind !== 'noop') this.changes.notify();
  }

  /** Events for refusals and waits worth telling, once per new situation. */
  private async tell(pass: PoolPass, before: PoolMemory): Promise<void> {
    const { plan } = pass;
    if (before.exhausted && plan.memory.exhausted === null) {
      await this.events.record({ kind: 'pool.recovered', subject: `pool:${plan.pool}`, message: `pool ${plan.pool} can grow again: the cloud has room (it was exhausted since ${new Date(before.exhausted.since).toISOString()}: ${before.exhausted.reason})`, data: {} });
    }
    const situation = plan.kind === 'wait' || plan.kind === 'noop' ? `${plan.kind}:${plan.code}` : plan.kind;
    if (this.told.get(plan.pool) === situation) return;
    this.told.set(plan.pool, situation);
    const refusal = plan.kind === 'wait' ? ['at-max', 'exhausted', 'no-district', 'backoff', 'headroom-unknown'].includes(plan.code) : plan.kind === 'noop' && plan.code === 'cannot-remove';
    if (!refusal) return;
    const exhausted = plan.kind === 'wait' && plan.code === 'exhausted';
    await this.events.record({
      kind: exhausted ? 'pool.exhausted' : 'pool.refused',
      severity: 'warning',
      subject: `pool:${plan.pool}`,
      message: `pool ${plan.pool}: ${plan.reason}`,
      data: { code: plan.kind === 'wait' || plan.kind === 'noop' ? plan.code : plan.kind, usagePct: plan.usage.pct },
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped.signal.aborted) {
      try {
        await this.passOnce();
      } catch (error) {
        this.log.error({ err: error }, 'autoscaler pass failed');
      }
      // Sooner while an operation runs (registrations, drains), so it ends promptly.
      const busy = (await this.store.listOperations({ status: ['running'] }).catch(() => [])).some((each) => each.kind === SCALE_UP || each.kind === SCALE_DOWN);
      const wait = busy ? Math.min(1000, this.config.intervalSeconds * 1000) : this.config.intervalSeconds * 1000;
      // IMPORTANT: a real timer between passes even when woken at once, because a wake-up that
      // resolved in microtasks only would let a stream of wakes starve every request.
      await new Promise((resolve) => setTimeout(resolve, MIN_PASS_GAP_MS));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        const signal = this.stopped.signal;
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        this.wakeUp = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}
