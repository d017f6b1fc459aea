import { randomUUID } from 'node:crypto';

import type { Logger } from 'pino';

import { isGeartideError } from '../core/errors.ts';
import type { Operation } from '../core/model.ts';
import { afterScaleFailure, afterScaleSuccess, type PoolMemory, type ScaleDownPlan, type ScaleUpPlan } from '../core/scale-plan.ts';
import type { Provider } from '../providers/provider.ts';
import type { Store } from '../store/store.ts';
import type { ChangeNotifier } from './change-notifier.ts';
import type { DrainExecutor } from './drain-executor.ts';
import type { EventRecorder } from './event-recorder.ts';
import { failpoint } from './failpoint.ts';
import { SCALE_DOWN, SCALE_UP, type ScaleDownData, type ScaleUpData } from './scale-snapshot.ts';

export interface ScaleExecutorSettings {
  readonly provisionTimeoutSeconds: number;
  readonly drainParallel: number;
  readonly drainDeadlineSeconds: number;
}

/** What the executor reports as it goes (the metrics count these). */
export interface ScaleObserver {
  scaleUpRequested?(pool: string, count: number): void;
  scaleDownStarted?(pool: string): void;
  scaleFailed?(pool: string, kind: 'scale-up' | 'scale-down', exhausted: boolean): void;
  scaleDownDone?(pool: string): void;
}

/**
 * Carries out scale plans through the pool's provider. Each is an operation in the journal, its
 * phase written before it is carried out, so a broker killed at any instant resumes it:
 *
 *   scale-up (subject pool:<name>)
 *     requesting ─increaseSize(scale event)─▶ provisioning ─all registered─▶ done
 *         │                                       │
 *         └─refused/failed─▶ failed               └─timeout or host failed─▶ deleting-unregistered ─▶ failed
 *
 *   scale-down (subject node:<name>)
 *     cordoned ─(planner: unneeded time)─▶ draining ─drain done, node empty─▶ deleting
 *         │                                   │          ─deleteNodes([that node])─▶ removing ─▶ done
 *         └─demand back─▶ re-activated        └─drain failed/cancelled─▶ node re-activated ─▶ failed / rolled-back
 *                          (rolled-back)
 *
 * `increaseSize` is idempotent per scale event, so repeating `requesting` after a restart
 * creates no second host; `deleteNodes` is idempotent by name, so repeating `deleting` deletes
 * nothing else. Only the hosts of the scale event, or the one drained node, are ever deleted.
 */
export class ScaleExecutor {
  constructor(
    private readonly store: Store,
    private readonly events: EventRecorder,
    private readonly changes: ChangeNotifier,
    private readonly drains: DrainExecutor,
    private readonly providers: ReadonlyMap<string, Provider>,
    private readonly settings: ScaleExecutorSettings,
    private readonly clock: () => number,
    private readonly log: Logger,
    private readonly observer: ScaleObserver = {},
  ) {}

  async startScaleUp(plan: ScaleUpPlan): Promise<Operation> {
    const now = this.clock();
    const data: ScaleUpData = {
      pool: plan.pool,
      scaleEventId: `scale-${randomUUID()}`,
      count: plan.count,
      district: plan.districtName,
      reason: plan.reason,
      deadlineAt: now + this.settings.provisionTimeoutSeconds * 1000,
      nodes: [],
    };
    // IMPORTANT: the operation and lastScaleUpAt commit together, because a request journaled
    // without its time would let the next pass ask again before the first is counted.
    const operation = await this.store.transaction(async (tx) => {
      const created = await tx.createOperation({ kind: SCALE_UP, subject: `pool:${plan.pool}`, phase: 'requesting', data: { ...data }, now });
      await tx.savePoolMemory(plan.pool, { ...plan.memory, lastScaleUpAt: now }, now);
      return created;
    });
    await this.events.record({
      kind: 'pool.scale-up',
      subject: `pool:${plan.pool}`,
      message: `scale-up of pool ${plan.pool} (scale event ${data.scaleEventId}): ${plan.reason}`,
      data: { operation: operation.id, scaleEventId: data.scaleEventId, count: plan.count, district: plan.districtName, usagePct: plan.usage.pct },
    });
    this.observer.scaleUpRequested?.(plan.pool, plan.count);
    failpoint('scale-up:requesting');
    await this.step(operation.id);
    return (await this.store.getOperation(operation.id))!;
  }

  /**
   * `cordon`: journals a scale-down (phase `cordoned`) and takes the node out of placement.
   * `drain`: moves that operation on to `draining` (the planner says when: after the unneeded time).
   */
  async startScaleDown(plan: ScaleDownPlan): Promise<Operation> {
    const now = this.clock();
    if (plan.step === 'drain') {
      await this.store.transaction(async (tx) => {
        await tx.updateOperation(plan.operationId!, { phase: 'draining', now });
        await tx.savePoolMemory(plan.pool, plan.memory, now);
      });
      await this.events.record({ kind: 'pool.scale-down-drain', subject: `pool:${plan.pool}`, message: `scale-down of pool ${plan.pool}: ${plan.reason}`, data: { operation: plan.operationId, node: plan.nodeName, gears: plan.gears } });
      failpoint('scale-down:draining');
      await this.step(plan.operationId!);
      return (await this.store.getOperation(plan.operationId!))!;
    }
    const data: ScaleDownData = { pool: plan.pool, nodeId: plan.nodeId, nodeName: plan.nodeName, reason: plan.reason, drainId: null };
    // IMPORTANT: journal before the node leaves placement, because a node deactivated with no
    // operation to say why would stay out of placement forever after a crash.
    const operation = await this.store.transaction(async (tx) => {
      const created = await tx.createOperation({ kind: SCALE_DOWN, subject: `node:${plan.nodeName}`, phase: 'cordoned', data: { ...data }, now });
      await tx.savePoolMemory(plan.pool, plan.memory, now);
      return created;
    });
    failpoint('scale-down:cordoned');
    await this.step(operation.id);
    await this.events.record({
      kind: 'pool.scale-down',
      subject: `pool:${plan.pool}`,
      message: `scale-down of pool ${plan.pool}: ${plan.reason}`,
      data: { operation: operation.id, node: plan.nodeName, activeGears: plan.activeGears, gears: plan.gears, usagePct: plan.usage.pct },
    });
    this.observer.scaleDownStarted?.(plan.pool);
    this.changes.notify();
    return (await this.store.getOperation(operation.id))!;
  }

  /**
   * Demand is back: a cordoned node takes gears again at once; a draining one has its drain
   * cancelled (moves in flight finish or roll back), which ends the scale-down as rolled back.
   */
  async cancelScaleDown(operationId: string, reason: string): Promise<void> {
    const operation = await this.store.getOperation(operationId);
    if (!operation || operation.status !== 'running') return;
    const data = operation.data as unknown as ScaleDownData;
    if (operation.phase === 'cordoned') {
      const node = await this.store.getNode(data.nodeId);
      if (node && node.state === 'deactivated') await this.store.setNodeState(node.id, 'active', null);
      await this.endScaleDown(operation, 'rolled-back', `${reason}; the cordon is lifted`);
      return;
    }
    if (operation.phase === 'draining') {
      if (await this.drains.runningDrain(data.nodeId)) await this.drains.cancelDrain(data.nodeName, reason);
      await this.step(operation.id);
    }
  }

  /** Moves the operation on by what can be done now; true when it changed. */
  async step(operationId: string): Promise<boolean> {
    const operation = await this.store.getOperation(operationId);
    if (!operation || operation.status !== 'running') return false;
    if (operation.kind === SCALE_UP) return this.stepScaleUp(operation);
    if (operation.kind === SCALE_DOWN) return this.stepScaleDown(operation);
    return false;
  }

  // --- scale-up ---------------------------------------------------------------------------

  private async stepScaleUp(operation: Operation): Promise<boolean> {
    const data = operation.data as unknown as ScaleUpData;
    const provider = this.providers.get(data.pool);
    if (provider === undefined) return this.failScaleUp(operation, `pool ${data.pool} is no longer configured (AUTOSCALE_POOLS)`, false);

    if (operation.phase === 'requesting') {
      let names: string[];
      try {
        names = (await provider.increaseSize({ count: data.count, scaleEventId: data.scaleEventId, district: data.district })).map((node) => node.name);
      } catch (error) {
        const exhausted = isGeartideError(error) && error.category === 'exhausted';
        const transient = isGeartideError(error) && error.category === 'transient';
        if (transient && this.clock() <= data.deadlineAt) {
          // The cloud is down or failing for a while: ask again on a later pass with the same
          // scale event, which finds what an earlier attempt created instead of creating more.
          this.log.warn({ err: error, pool: data.pool, scaleEventId: data.scaleEventId }, 'the cloud did not answer a scale-up; asking again on the next pass');
          await this.store.updateOperation(operation.id, { data: { lastError: errorMessage(error) }, now: this.clock() });
          return false;
        }
        // A request that failed on the way back may still have created hosts: the scale event
        // finds them, so they are waited for (or cleaned up) rather than created again.
        const accepted = exhausted ? [] : await this.hostsOf(provider, data.scaleEventId);
        if (accepted.length === 0) return this.failScaleUp(operation, errorMessage(error), exhausted);
        if (transient) {
          // Out of time while the cloud failed: what it did create goes, the scale-up failed.
          await this.store.updateOperation(operation.id, { phase: 'deleting-unregistered', data: { unregistered: accepted, why: `the cloud kept failing until PROVISION_TIMEOUT: ${errorMessage(error)}` }, now: this.clock() });
          return true;
        }
        names = accepted;
      }
      await this.store.updateOperation(operation.id, { phase: 'provisioning', data: { nodes: names }, now: this.clock() });
      failpoint('scale-up:provisioning');
      return true;
    }

    if (operation.phase === 'provisioning') {
      const registered = (await this.store.listNodes()).filter((node) => node.scaleEventId === data.scaleEventId && node.state !== 'gone');
      if (registered.length >= data.count) {
        const now = this.clock();
        await this.store.updateOperation(operation.id, { phase: 'done', status: 'succeeded', now });
        await this.updateMemory(data.pool, afterScaleSuccess);
        await this.events.record({
          kind: 'pool.scaled-up',
          subject: `pool:${data.pool}`,
          message: `pool ${data.pool} grew by ${registered.length} node host(s) (${registered.map((node) => node.name).join(', ')}) in district ${data.district}, registered ${((now - operation.createdAt) / 1000).toFixed(1)} s after the request`,
          data: { operation: operation.id, scaleEventId: data.scaleEventId, nodes: registered.map((node) => node.name) },
        });
        this.changes.notify();
        return true;
      }
      const hosts = await provider.nodes().catch(() => undefined);
      const failedHost = hosts?.find((host) => data.nodes.includes(host.name) && host.status === 'failed' && !registered.some((node) => node.name === host.name));
      const timedOut = this.clock() > data.deadlineAt;
      if (!failedHost && !timedOut) return false;
      const unregistered = data.nodes.filter((name) => !registered.some((node) => node.name === name));
      const why = failedHost
        ? `node host ${failedHost.name} failed: ${failedHost.error ?? 'no reason given'}`
        : `${unregistered.length} node host(s) did not register within PROVISION_TIMEOUT (${this.settings.provisionTimeoutSeconds} s)`;
      // The provider says whether the cloud refused for lack of room (quota, no valid host).
      const exhausted = failedHost?.exhausted ?? false;
      await this.store.updateOperation(operation.id, { phase: 'deleting-unregistered', data: { unregistered, why, exhausted }, now: this.clock() });
      return true;
    }

    if (operation.phase === 'deleting-unregistered') {
      const { unregistered, why, exhausted: said } = operation.data as { unregistered: string[]; why: string; exhausted?: boolean };
      failpoint('scale-up:deleting-unregistered');
      // Only hosts of this scale event that never registered: a node that registered is a node.
      await provider.deleteNodes(unregistered);
      // Operations journaled before providers said so carry only the sentence.
      const exhausted = said ?? /quota|no valid host|exhausted|capacity/i.test(why);
      return this.failScaleUp(operation, `${why}; deleted ${unregistered.length === 0 ? 'nothing' : unregistered.join(', ')}`, exhausted);
    }
    return false;
  }

  private async hostsOf(provider: Provider, scaleEventId: string): Promise<string[]> {
    try {
      return (await provider.nodes()).filter((node) => node.scaleEventId === scaleEventId && node.status !== 'deleting').map((node) => node.name);
    } catch {
      return [];
    }
  }

  private async failScaleUp(operation: Operation, reason: string, exhausted: boolean): Promise<boolean> {
    const data = operation.data as unknown as ScaleUpData;
    const now = this.clock();
    await this.store.updateOperation(operation.id, { phase: 'failed', status: 'failed', error: reason, now });
    await this.recordFailure(data.pool, reason, exhausted, now);
    await this.events.record({
      kind: exhausted ? 'pool.exhausted' : 'pool.scale-up-failed',
      severity: 'warning',
      subject: `pool:${data.pool}`,
      message: exhausted ? `pool ${data.pool} cannot grow: the cloud is exhausted: ${reason}` : `scale-up of pool ${data.pool} failed: ${reason}`,
      data: { operation: operation.id, scaleEventId: data.scaleEventId },
    });
    this.observer.scaleFailed?.(data.pool, 'scale-up', exhausted);
    return true;
  }

  // --- scale-down -------------------------------------------------------------------------

  private async stepScaleDown(operation: Operation): Promise<boolean> {
    const data = operation.data as unknown as ScaleDownData;
    const node = await this.store.getNode(data.nodeId);

    if (operation.phase === 'cordoned') {
      if (!node) return this.endScaleDown(operation, 'failed', `node ${data.nodeName} no longer exists`);
      // Idempotent: a broker killed between the journal and the deactivation does it now.
      if (node.state === 'active') {
        await this.store.setNodeState(node.id, 'deactivated', null);
        return true;
      }
      return false;
    }

    if (operation.phase === 'draining') {
      if (!node) return this.endScaleDown(operation, 'failed', `node ${data.nodeName} no longer exists`);
      let drainId = data.drainId;
      if (drainId === null) {
        // A restart between the journal write and the drain start finds the drain it started, if any.
        const running = await this.drains.runningDrain(node.id);
        try {
          drainId = running?.id ?? (await this.drains.startDrain({ nodeName: node.name, parallel: this.settings.drainParallel, deadlineSeconds: this.settings.drainDeadlineSeconds, actor: 'autoscaler' })).id;
        } catch (error) {
          // Refused (the gears no longer fit) or the node changed state: nothing was done to it.
          return this.endScaleDown(operation, 'failed', `its drain could not start: ${errorMessage(error)}`);
        }
        await this.store.updateOperation(operation.id, { data: { drainId }, now: this.clock() });
      }
      const drain = await this.store.getOperation(drainId);
      if (!drain || drain.status === 'running') return drainId !== data.drainId;
      if (drain.status !== 'succeeded') {
        const cancelled = drain.phase === 'cancelled';
        // The drain left the node deactivated (a cancel re-activated it already): it was taken
        // out of placement for its removal only, so it takes gears again.
        const current = await this.store.getNode(node.id);
        if (current && current.state === 'deactivated') await this.store.setNodeState(current.id, 'active', null);
        return this.endScaleDown(operation, cancelled ? 'rolled-back' : 'failed', cancelled ? `its drain was cancelled (${drain.error ?? 'no reason'})` : `its drain failed: ${drain.error ?? 'no reason'}`);
      }
      // IMPORTANT: check the node is empty before the cloud deletes it, because a gear placed or
      // moved onto it by anyone since (a manual activate, a race) would be destroyed with it.
      const gears = await this.store.countGearsOnNode(node.id);
      const incoming = (await this.store.listGearMoves({ nodeId: node.id })).length;
      if (gears > 0 || incoming > 0) {
        await this.store.updateOperation(operation.id, { data: { drainId: null }, now: this.clock() });
        this.log.warn({ node: node.name, gears, incoming }, 'a drained node holds gears again; draining it again before deleting it');
        return true;
      }
      await this.store.updateOperation(operation.id, { phase: 'deleting', now: this.clock() });
      return true;
    }

    if (operation.phase === 'deleting') {
      const provider = this.providers.get(data.pool);
      if (provider === undefined) return this.endScaleDown(operation, 'failed', `pool ${data.pool} is no longer configured (AUTOSCALE_POOLS); node ${data.nodeName} stays deactivated`);
      if (node && node.state !== 'deprovisioning') await this.store.setNodeState(node.id, 'deprovisioning', null);
      failpoint('scale-down:deleting');
      // Exactly this node: never "the newest", never another.
      await provider.deleteNodes([data.nodeName]);
      await this.store.updateOperation(operation.id, { phase: 'removing', now: this.clock() });
      failpoint('scale-down:removing');
      return true;
    }

    if (operation.phase === 'removing') {
      if (node) {
        await this.store.setNodeDistrict(node.id, null);
        await this.store.setNodeState(node.id, 'gone', null);
      }
      return this.endScaleDown(operation, 'succeeded');
    }
    return false;
  }

  private async endScaleDown(operation: Operation, outcome: 'succeeded' | 'failed' | 'rolled-back', reason?: string): Promise<boolean> {
    const data = operation.data as unknown as ScaleDownData;
    const now = this.clock();
    await this.store.updateOperation(operation.id, { phase: outcome === 'succeeded' ? 'done' : outcome, status: outcome, error: reason ?? null, now });
    if (outcome === 'succeeded') {
      await this.updateMemory(data.pool, (memory) => ({ ...afterScaleSuccess(memory), lastScaleDownAt: now }));
      this.observer.scaleDownDone?.(data.pool);
    } else if (outcome === 'failed') {
      await this.recordFailure(data.pool, `scale-down of node ${data.nodeName}: ${reason}`, false, now);
      this.observer.scaleFailed?.(data.pool, 'scale-down', false);
    }
    await this.events.record({
      kind: outcome === 'succeeded' ? 'pool.scaled-down' : outcome === 'failed' ? 'pool.scale-down-failed' : 'pool.scale-down-cancelled',
      severity: outcome === 'failed' ? 'warning' : 'info',
      subject: `pool:${data.pool}`,
      message:
        outcome === 'succeeded'
          ? `pool ${data.pool} shrank: node ${data.nodeName} was drained and deleted (${((now - operation.createdAt) / 1000).toFixed(1)} s)`
          : `scale-down of node ${data.nodeName} ${outcome === 'failed' ? 'failed' : 'was called off'}: ${reason}; the node takes gears again`,
      data: { operation: operation.id, node: data.nodeName },
    });
    this.changes.notify();
    return true;
  }

  // --- memory -----------------------------------------------------------------------------

  private async recordFailure(pool: string, reason: string, exhausted: boolean, now: number): Promise<void> {
    await this.updateMemory(pool, (memory) => afterScaleFailure(memory, reason, exhausted, now));
  }

  private async updateMemory(pool: string, change: (memory: PoolMemory) => PoolMemory): Promise<void> {
    await this.store.transaction(async (tx) => tx.savePoolMemory(pool, change(await tx.getPoolMemory(pool)), this.clock()));
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
