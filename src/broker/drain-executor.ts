import type { Logger } from 'pino';

import { planDrain } from '../core/drain-plan.ts';
import { ConflictError, GeartideError, NotFoundError } from '../core/errors.ts';
import type { Node, Operation } from '../core/model.ts';
import { isPastCommitPoint, type MovePhase } from '../core/move-phases.ts';
import type { Store } from '../store/store.ts';
import { LEAST_LOADED_EVERYWHERE, loadPlacementSnapshot, type PlacementOrderOf } from './app-executor.ts';
import type { ChangeNotifier } from './change-notifier.ts';
import type { EventRecorder } from './event-recorder.ts';
import type { MoveExecutor } from './move-executor.ts';

export interface DrainRequest {
  readonly nodeName: string;
  readonly parallel: number;
  readonly deadlineSeconds: number;
  readonly actor: string;
}

/** What the journal holds for a drain (operation data). */
export interface DrainData {
  readonly nodeId: string;
  readonly nodeName: string;
  readonly parallel: number;
  readonly deadlineAt: number;
  readonly total: number;
  /** The planner's sentence, and where it meant each gear to go (a hint: targets are re-checked per move). */
  readonly plan: string;
  readonly targets: Readonly<Record<string, string>>;
  /** Every move operation this drain started, in order. */
  readonly moveIds: readonly string[];
}

/** A gear whose moves failed this many times makes the drain fail. */
const ATTEMPTS_PER_GEAR = 3;

/**
 * Empties a node: deactivates it, then moves its gears with bounded parallelism under a deadline
 * (docs/moves.md). A drain is an operation of its own (kind `drain`), phases
 *
 *   deactivating ─▶ moving ─▶ done            (every gear moved; node left deactivated)
 *                     ├─────▶ failed          (deadline, or a gear that cannot move)
 *                     └─────▶ cancelled       (operator; node re-activated)
 *
 * Each `step()` looks at the node and the drain's moves afresh, so a broker restart resumes it.
 */
export class DrainExecutor {
  constructor(
    private readonly store: Store,
    private readonly events: EventRecorder,
    private readonly changes: ChangeNotifier,
    private readonly moves: MoveExecutor,
    private readonly clock: () => number,
    private readonly log: Logger,
    private readonly placementOrder: PlacementOrderOf = LEAST_LOADED_EVERYWHERE,
  ) {}

  /** Plans the drain (refusing, with the planner's reason, when the gears do not fit) and starts it. */
  async startDrain(request: DrainRequest): Promise<Operation> {
    const now = this.clock();
    const node = await this.store.getNodeByName(request.nodeName);
    if (!node) throw new NotFoundError('node', request.nodeName, 'name');
    const running = await this.runningDrain(node.id);
    if (running) throw new ConflictError('drain_running', `node ${node.name} is already draining (drain ${running.id})`, { field: 'name' });
    if (node.state !== 'active' && node.state !== 'deactivated') {
      throw new ConflictError('invalid_node_state', `node ${node.name} is ${node.state}; only an active or deactivated node can be drained`, { field: 'name', state: node.state });
    }

    const gears = await this.store.listGears({ nodeId: node.id });
    const snapshot = await loadPlacementSnapshot(this.store, node.gearProfile, this.placementOrder(node.gearProfile));
    const gearsByApp = new Map<string, Map<string, number>>();
    for (const appId of new Set(gears.map((gear) => gear.appId))) {
      const counts = new Map<string, number>();
      for (const each of await this.store.listGears({ appId })) counts.set(each.nodeId, (counts.get(each.nodeId) ?? 0) + 1);
      gearsByApp.set(appId, counts);
    }
    const plan = planDrain(snapshot, { nodeId: node.id, gears: gears.map((gear) => ({ id: gear.id, appId: gear.appId, active: gear.desiredState === 'started' })), gearsByApp });
    if (plan.kind === 'refuse') {
      await this.events.record({ kind: 'node.drain-refused', severity: 'warning', subject: `node:${node.name}`, message: `drain of node ${node.name} refused: ${plan.reason}`, data: { node: node.id } });
      throw new ConflictError('drain_refused', plan.reason, { field: 'name', unplaceable: plan.unplaceable });
    }

    const data: DrainData = {
      nodeId: node.id,
      nodeName: node.name,
      parallel: request.parallel,
      deadlineAt: now + request.deadlineSeconds * 1000,
      total: gears.length,
      plan: plan.reason,
      targets: Object.fromEntries(plan.moves.map((move) => [move.gearId, move.toNodeName])),
      moveIds: [],
    };
    const operation = await this.store.createOperation({ kind: 'drain', subject: `node:${node.name}`, phase: 'deactivating', data: { ...data }, now });
    await this.events.record({
      kind: 'node.drain-started',
      subject: `node:${node.name}`,
      message: `draining node ${node.name} (${request.actor}, ${request.parallel} at a time, deadline ${request.deadlineSeconds} s): ${plan.reason}`,
      data: { drain: operation.id, node: node.id, total: gears.length },
    });
    await this.step(operation.id);
    return (await this.store.getOperation(operation.id))!;
  }

  /** Stops starting moves and re-activates the node; moves in flight finish or roll back. */
  async cancelDrain(nodeName: string, actor: string): Promise<Operation> {
    const node = await this.store.getNodeByName(nodeName);
    if (!node) throw new NotFoundError('node', nodeName, 'name');
    const running = await this.runningDrain(node.id);
    if (!running) throw new ConflictError('no_drain', `node ${node.name} is not draining`, { field: 'name' });
    await this.store.updateOperation(running.id, { phase: 'cancelled', status: 'failed', error: `cancelled by ${actor}`, now: this.clock() });
    await this.setNodeState(node, 'active');
    await this.events.record({ kind: 'node.drain-cancelled', subject: `node:${node.name}`, message: `drain of node ${node.name} cancelled by ${actor}; the node takes new gears again, moves in flight finish or roll back`, data: { drain: running.id } });
    return (await this.store.getOperation(running.id))!;
  }

  async step(operationId: string): Promise<boolean> {
    const operation = await this.store.getOperation(operationId);
    if (!operation || operation.kind !== 'drain' || operation.status !== 'running') return false;
    const data = operation.data as unknown as DrainData;
    const node = await this.store.getNode(data.nodeId);
    const now = this.clock();
    if (!node) return this.finish(operation, 'failed', `node ${data.nodeName} no longer exists`);

    if (operation.phase === 'deactivating') {
      // IMPORTANT: no new gear may land on the node before its gears start leaving it, or the
      // drain would chase gears placed behind it.
      await this.setNodeState(node, 'draining');
      await this.store.updateOperation(operation.id, { phase: 'moving', now });
      return true;
    }
    if (operation.phase !== 'moving') return false;
    if (node.state === 'active' || node.state === 'deactivated') await this.setNodeState(node, 'draining');

    const moves = (await Promise.all(data.moveIds.map((id) => this.store.getOperation(id)))).filter((each): each is Operation => each !== undefined);
    const inFlight = moves.filter((move) => move.status === 'running');
    const gearsLeft = await this.store.listGears({ nodeId: node.id });

    if (now > data.deadlineAt) {
      for (const move of inFlight) if (!isPastCommitPoint(move.phase as MovePhase)) await this.moves.rollBack(move, `drain ${operation.id} passed its deadline`);
      return this.finish(operation, 'failed', `the deadline passed with ${gearsLeft.length} of ${data.total} gear(s) still on node ${node.name}`);
    }
    if (gearsLeft.length === 0 && inFlight.length === 0) return this.finish(operation, 'succeeded');

    const moving = new Set(inFlight.map((move) => (move.data as { gearId: string }).gearId));
    const attempts = new Map<string, number>();
    for (const move of moves) {
      const gearId = (move.data as { gearId: string }).gearId;
      attempts.set(gearId, (attempts.get(gearId) ?? 0) + 1);
    }
    const stuck = gearsLeft.find((gear) => !moving.has(gear.id) && (attempts.get(gear.id) ?? 0) >= ATTEMPTS_PER_GEAR);
    if (stuck && inFlight.length === 0) {
      const last = [...moves].reverse().find((move) => (move.data as { gearId: string }).gearId === stuck.id);
      return this.finish(operation, 'failed', `gear ${stuck.id} failed to move ${ATTEMPTS_PER_GEAR} times (last: ${last?.error ?? 'unknown'})`);
    }

    let started = 0;
    const newMoveIds: string[] = [];
    for (const gear of gearsLeft) {
      if (inFlight.length + started >= data.parallel) break;
      if (moving.has(gear.id) || (attempts.get(gear.id) ?? 0) >= ATTEMPTS_PER_GEAR) continue;
      const planned = data.targets[gear.id];
      try {
        const move = await this.startMoveTowards(gear.id, planned, operation.id);
        newMoveIds.push(move.id);
        started++;
      } catch (error) {
        if (!(error instanceof GeartideError)) throw error;
        // No room right now (a target filled up mid-drain): if nothing is in flight to free
        // or fill room, the drain cannot finish.
        if (inFlight.length + started === 0) return this.finish(operation, 'failed', `gear ${gear.id} cannot move: ${error.message}`);
        break;
      }
    }
    if (newMoveIds.length > 0) await this.store.updateOperation(operation.id, { data: { moveIds: [...data.moveIds, ...newMoveIds] }, now: this.clock() });
    return newMoveIds.length > 0;
  }

  /** The planned target first; when it can no longer take the gear, wherever placement says. */
  private async startMoveTowards(gearId: string, planned: string | undefined, drainId: string): Promise<Operation> {
    if (planned !== undefined) {
      try {
        return await this.moves.startMove({ gearId, toNodeName: planned, drainId, actor: `drain ${drainId}` });
      } catch (error) {
        if (!(error instanceof GeartideError) || error.code !== 'target_unavailable') throw error;
        this.log.info({ gear: gearId, planned }, 'the planned target is full now; placing the gear elsewhere');
      }
    }
    return this.moves.startMove({ gearId, drainId, actor: `drain ${drainId}` });
  }

  private async finish(operation: Operation, outcome: 'succeeded' | 'failed', reason?: string): Promise<boolean> {
    const data = operation.data as unknown as DrainData;
    const now = this.clock();
    await this.store.updateOperation(operation.id, { phase: outcome === 'succeeded' ? 'done' : 'failed', status: outcome, error: reason ?? null, now });
    const node = await this.store.getNode(data.nodeId);
    // A drained (or failed) node stays out of placement: the operator, or the autoscaler,
    // decides what comes next. Only a cancel puts it back.
    if (node && node.state === 'draining') await this.setNodeState(node, 'deactivated');
    const moves = (await Promise.all(data.moveIds.map((id) => this.store.getOperation(id)))).filter((each): each is Operation => each !== undefined);
    const pauses = moves.map((move) => Number((move.data as { pauseMs?: number | null }).pauseMs ?? 0));
    const moved = moves.filter((move) => move.status === 'succeeded').length;
    await this.events.record({
      kind: outcome === 'succeeded' ? 'node.drained' : 'node.drain-failed',
      severity: outcome === 'succeeded' ? 'info' : 'warning',
      subject: `node:${data.nodeName}`,
      message:
        outcome === 'succeeded'
          ? `node ${data.nodeName} drained: ${moved} gear(s) moved in ${((now - operation.createdAt) / 1000).toFixed(1)} s, longest pause ${Math.max(0, ...pauses)} ms`
          : `drain of node ${data.nodeName} failed: ${reason}; ${moved} of ${data.total} gear(s) moved, the node stays deactivated`,
      data: { drain: operation.id, moved, total: data.total, longestPauseMs: Math.max(0, ...pauses) },
    });
    this.changes.notify();
    return true;
  }

  private async setNodeState(node: Node, state: 'active' | 'draining' | 'deactivated'): Promise<void> {
    if (node.state === 'lost') await this.store.setNodeState(node.id, 'lost', state);
    else if (node.state !== state) await this.store.setNodeState(node.id, state, null);
  }

  async runningDrain(nodeId: string): Promise<Operation | undefined> {
    const running = await this.store.listOperations({ status: ['running'], kind: 'drain' });
    return running.find((operation) => (operation.data as { nodeId?: string }).nodeId === nodeId);
  }
}
