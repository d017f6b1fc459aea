import { ExhaustedError, GeartideError } from '../core/errors.ts';
import type { Store } from '../store/store.ts';
import type { AutoscaleConfig } from './broker-config.ts';
import type { ChangeNotifier } from './change-notifier.ts';
import { SCALE_UP, poolFor, type ScaleUpData } from './scale-snapshot.ts';

/** How often a waiting request retries its placement when nothing wakes it. */
const RETRY_MS = 1000;
/** The least time between two retries of a waiting request. */
const MIN_RETRY_GAP_MS = 200;

export interface NoRoom {
  readonly error: ExhaustedError;
  readonly gearProfile: string;
  readonly gears: number;
  /** When the caller stops waiting (epoch ms). */
  readonly deadline: number;
}

/**
 * What an app create or scale does when placement finds no room, with the autoscaler on:
 *   - the pool's cloud is exhausted, the pool is paused or at its max: refuse at once, saying
 *     which and why (no node is coming, so waiting would only hide it);
 *   - otherwise record the refusal (the autoscaler counts it as demand and scales up at once),
 *     wait for a change (a node registering) and let the caller retry, until APP_CREATE_WAIT
 *     passes; then answer 503 `capacity_pending`, which a client may retry.
 * With AUTOSCALE_PROVIDER=none, or a profile no pool manages, the refusal stands as it was.
 */
export class CapacityGate {
  constructor(
    private readonly store: Pick<Store, 'getPoolMemory' | 'recordUnplaced' | 'listNodes' | 'listOperations' | 'getDistrictByName'>,
    private readonly config: AutoscaleConfig,
    private readonly changes: ChangeNotifier,
    private readonly clock: () => number,
    /** Wakes the autoscaler so a refusal is acted on now, not at the next interval. */
    private readonly wakeAutoscaler: () => void = () => {},
  ) {}

  /** The deadline for a request that starts now. */
  deadline(): number {
    return this.clock() + this.config.appCreateWaitSeconds * 1000;
  }

  /** Resolves when the caller should retry its placement; throws the refusal to give. */
  async waitForRoom(noRoom: NoRoom, signal?: AbortSignal): Promise<void> {
    const { error, gearProfile } = noRoom;
    const district = typeof error.context.district === 'string' ? error.context.district : null;
    const pool = this.config.provider === 'none' ? undefined : poolFor(this.config.pools, gearProfile, district);
    if (pool === undefined) throw error;

    const memory = await this.store.getPoolMemory(pool.name);
    if (memory.exhausted) {
      throw new ExhaustedError('cloud_exhausted', `${error.message}; pool ${pool.name} cannot grow: the cloud is exhausted: ${memory.exhausted.reason}`, { profile: gearProfile, pool: pool.name, ...(district ? { district } : {}) });
    }
    if (memory.paused) throw new ExhaustedError('no_capacity', `${error.message}; autoscaling of pool ${pool.name} is paused (by ${memory.paused.by})`, { profile: gearProfile, pool: pool.name });
    const poolDistrictId = pool.district === null ? null : ((await this.store.getDistrictByName(pool.district))?.id ?? '');
    const nodes = (await this.store.listNodes({ gearProfile })).filter((node) => node.state !== 'gone' && (poolDistrictId === null || node.districtId === poolDistrictId)).length;
    const provisioning = (await this.store.listOperations({ status: ['running'], kind: SCALE_UP })).filter((operation) => (operation.data as unknown as ScaleUpData).pool === pool.name).length;
    if (nodes >= pool.maxNodes && provisioning === 0) {
      throw new ExhaustedError('no_capacity', `${error.message}; pool ${pool.name} is at its maximum of ${pool.maxNodes} node host(s) (AUTOSCALE_POOLS / AUTOSCALE_MAX_NODES)`, { profile: gearProfile, pool: pool.name });
    }
    // IMPORTANT: record the refusal on every retry, because it is what keeps the demand fresh in
    // the autoscaler's eyes for as long as someone waits (it fades after unplacedTtlMs).
    await this.store.recordUnplaced(pool.name, { gears: noRoom.gears, district, now: this.clock() });
    this.wakeAutoscaler();
    // After the refusal is recorded, so even a request that does not wait (APP_CREATE_WAIT=0)
    // makes the pool grow for the next one.
    if (this.clock() >= noRoom.deadline) {
      throw new GeartideError(
        'capacity_pending',
        'transient',
        `${error.message}; pool ${pool.name} is adding node hosts for it but none was ready within APP_CREATE_WAIT (${this.config.appCreateWaitSeconds} s): try again shortly`,
        { profile: gearProfile, pool: pool.name },
      );
    }
    // A real timer first: placement retried on every wake-up could spin in microtasks (SQLite
    // answers synchronously) and starve the event loop; then the next change, or a second.
    await new Promise((resolve) => setTimeout(resolve, MIN_RETRY_GAP_MS));
    await this.changes.wait(Math.min(RETRY_MS, Math.max(0, noRoom.deadline - this.clock())), signal ?? new AbortController().signal);
  }
}
