import { randomBytes } from 'node:crypto';

import type { Logger } from 'pino';

import { ConflictError, ExhaustedError, NotFoundError } from '../core/errors.ts';
import type { Gear, GearMove, Node, Operation } from '../core/model.ts';
import { failpoint } from './failpoint.ts';
import { isPastCommitPoint, type MovePhase } from '../core/move-phases.ts';
import { planMoveTarget } from '../core/drain-plan.ts';
import type { Store } from '../store/store.ts';
import { LEAST_LOADED_EVERYWHERE, loadPlacementSnapshot, type PlacementOrderOf } from './app-executor.ts';
import type { ChangeNotifier } from './change-notifier.ts';
import type { EventRecorder } from './event-recorder.ts';

export interface MoveSettings {
  /** A move still copying after this long is rolled back. */
  readonly moveDeadlineMs: number;
  /** Routers seen within this window count as live: the move waits for their table. */
  readonly routerLiveMs: number;
  /** Most time a move waits for live routers to have the table without its source. */
  readonly routerSyncTimeoutMs: number;
  /** After the last live router was served the new table: time for it to apply it. */
  readonly routerGraceMs: number;
}

export const DEFAULT_MOVE_SETTINGS: MoveSettings = { moveDeadlineMs: 120_000, routerLiveMs: 90_000, routerSyncTimeoutMs: 10_000, routerGraceMs: 250 };

export interface MoveRequest {
  readonly gearId: string;
  /** A named target; otherwise placement chooses. */
  readonly toNodeName?: string;
  readonly changeDistrict?: boolean;
  /** The drain this move belongs to, if any. */
  readonly drainId?: string;
  /** Who asked, for the event. */
  readonly actor: string;
}

/** What the journal holds for a move (operation data). */
export interface MoveData {
  readonly gearId: string;
  readonly appId: string;
  readonly from: string;
  readonly to: string;
  readonly drainId: string | null;
  readonly deadlineAt: number;
  readonly pauseMs?: number | null;
  readonly endpoint?: string | null;
}

/**
 * Carries out gear moves, one phase at a time (docs/moves.md). The only code that writes moves.
 *
 *   planned ─▶ copying ─▶ target-started ─▶ routed-both ─▶ routed-target ─▶ source-released ─▶ done
 *      └──────────┴─────────────┴────────────────┴─▶ rolling-back ─▶ rolled-back
 *
 * Every phase is written to the journal before it is carried out, and carrying it out is
 * idempotent, so `step()` after a crash at any instant redoes at most the last step. Before
 * `routed-target` any failure rolls back (the source never stopped serving); from it on the move
 * only rolls forward.
 */
export class MoveExecutor {
  constructor(
    private readonly store: Store,
    private readonly events: EventRecorder,
    private readonly changes: ChangeNotifier,
    private readonly clock: () => number,
    private readonly log: Logger,
    /** Public for the routers view: which routers a move waits for (routerLiveMs). */
    readonly settings: MoveSettings = DEFAULT_MOVE_SETTINGS,
    /** Told how each move ended and how long it took (the metrics' move durations). */
    private readonly onMoveEnded: (outcome: 'succeeded' | 'rolled-back', durationMs: number) => void = () => {},
    private readonly placementOrder: PlacementOrderOf = LEAST_LOADED_EVERYWHERE,
  ) {}

  /** Chooses the target, reserves it and journals the move (phase `planned`). */
  async startMove(request: MoveRequest): Promise<Operation> {
    const now = this.clock();
    const { operation, gear, source, target } = await this.store.transaction(async (tx) => {
      const gear = await tx.getGear(request.gearId);
      if (!gear) throw new NotFoundError('gear', request.gearId, 'gears');
      if (await tx.getGearMove(gear.id)) throw new ConflictError('gear_moving', `gear ${gear.id} is already being moved`, { field: 'gears' });
      const app = (await tx.getAppById(gear.appId))!;
      const source = (await tx.getNode(gear.nodeId))!;
      await tx.lockPlacement(app.gearProfile);
      const target = await this.chooseTarget(tx, request, gear, app.gearProfile, source);
      const targetUid = target.districtId === gear.districtId ? gear.uid : await tx.allocateUid(target.districtId);
      const data: MoveData = { gearId: gear.id, appId: gear.appId, from: source.name, to: target.nodeName, drainId: request.drainId ?? null, deadlineAt: now + this.settings.moveDeadlineMs };
      // IMPORTANT: the journal row and the move row commit together, because a move row
      // without its operation would reserve room on the target that nothing ever releases.
      const operation = await tx.createOperation({ kind: 'move', subject: `gear:${gear.id}`, phase: 'planned', data: { ...data }, now });
      failpoint('move:planned');
      await tx.createGearMove({
        gearId: gear.id,
        appId: gear.appId,
        operationId: operation.id,
        sourceNodeId: source.id,
        targetNodeId: target.nodeId,
        targetDistrictId: target.districtId,
        targetUid,
        token: randomBytes(24).toString('base64url'),
        phase: 'planned',
        now,
      });
      return { operation, gear, source, target };
    });
    await this.events.record({
      kind: 'gear.move-started',
      subject: `gear:${gear.id}`,
      message: `${target.reason} (${request.actor})`,
      data: { operation: operation.id, from: source.name, to: target.nodeName, drain: request.drainId ?? null },
    });
    return operation;
  }

  /** The move's target, decided by the pure planner over a fresh snapshot; a refusal says why. */
  private async chooseTarget(tx: Store, request: MoveRequest, gear: Gear, gearProfile: string, source: Node): Promise<{ nodeId: string; nodeName: string; districtId: string; reason: string }> {
    const snapshot = await loadPlacementSnapshot(tx, gearProfile, this.placementOrder(gearProfile));
    const appGearsByNode = new Map<string, number>();
    for (const each of await tx.listGears({ appId: gear.appId })) if (each.id !== gear.id) appGearsByNode.set(each.nodeId, (appGearsByNode.get(each.nodeId) ?? 0) + 1);
    let toNodeId: string | undefined;
    if (request.toNodeName !== undefined) {
      const named = await tx.getNodeByName(request.toNodeName);
      if (!named) throw new NotFoundError('node', request.toNodeName, 'to');
      toNodeId = named.id;
    }
    const plan = planMoveTarget(snapshot, {
      gear: { id: gear.id, appId: gear.appId, active: gear.desiredState === 'started' },
      fromNodeId: source.id,
      ...(toNodeId === undefined ? {} : { toNodeId }),
      changeDistrict: request.changeDistrict === true,
      appGearsByNode,
    });
    if (plan.kind === 'refuse') {
      if (toNodeId !== undefined) throw new ConflictError('target_unavailable', plan.reason, { field: 'to' });
      throw new ExhaustedError('no_capacity', plan.reason, { profile: gearProfile, field: 'gears' });
    }
    return { nodeId: plan.move.toNodeId, nodeName: plan.move.toNodeName, districtId: plan.move.toDistrictId, reason: plan.reason };
  }

  /**
   * Advances one move as far as it can go now. Returns true when it wrote something. Safe to
   * call at any time, any number of times, from one caller at a time per move.
   */
  async step(operationId: string): Promise<boolean> {
    const operation = await this.store.getOperation(operationId);
    if (!operation || operation.kind !== 'move' || operation.status !== 'running') return false;
    const data = operation.data as unknown as MoveData;
    const move = await this.store.getGearMove(data.gearId);
    const phase = operation.phase as MovePhase;
    const now = this.clock();

    switch (phase) {
      case 'planned':
        if (!move) return this.finishRolledBack(operation, 'the move record is missing');
        return this.advance(operation, 'copying', () => this.store.updateGearMove(data.gearId, { phase: 'copying', now }));

      case 'copying': {
        if (!move) return this.finishRolledBack(operation, 'the move record is missing');
        if (move.phase !== 'copying') await this.store.updateGearMove(data.gearId, { phase: 'copying', now });
        if (move.targetState === 'failed') return this.rollBack(operation, `the target could not start its copy: ${move.error ?? 'no reason given'}`);
        if (move.targetState === 'started') {
          return this.advance(operation, 'target-started', () => this.store.updateGearMove(data.gearId, { phase: 'target-started', now }), { pauseMs: move.pauseMs, endpoint: move.targetEndpoint });
        }
        if (now > data.deadlineAt) return this.rollBack(operation, `the copy did not start within ${Math.round(this.settings.moveDeadlineMs / 1000)} s`);
        const target = await this.store.getNode(move.targetNodeId);
        if (!target || target.state === 'lost' || target.state === 'gone') return this.rollBack(operation, `target node ${data.to} is ${target?.state ?? 'gone'}`);
        return false;
      }

      case 'target-started':
        if (!move) return this.finishRolledBack(operation, 'the move record is missing');
        return this.advance(operation, 'routed-both', () => this.store.updateGearMove(data.gearId, { phase: 'routed-both', routePhase: 'both', now }));

      case 'routed-both':
        if (!move) return this.finishRolledBack(operation, 'the move record is missing');
        if (move.routePhase !== 'both') await this.store.updateGearMove(data.gearId, { routePhase: 'both', now });
        // IMPORTANT: routers get the target before they lose the source, because a table
        // with neither would turn requests away.
        return this.advance(operation, 'routed-target', () => this.store.updateGearMove(data.gearId, { phase: 'routed-target', routePhase: 'target', now }));

      case 'routed-target': {
        if (!move) return this.complete(operation, data);
        if (move.routePhase !== 'target') {
          await this.store.updateGearMove(data.gearId, { phase: 'routed-target', routePhase: 'target', now });
          this.changes.notify();
          return true;
        }
        // IMPORTANT: the source stops only once every live router has a table without it,
        // because a router still sending it requests would see them fail.
        if (!(await this.routersHaveTableSince(move.updatedAt, now))) return false;
        return this.advance(operation, 'source-released', async () => {
          await this.store.completeGearMove(data.gearId, now);
        });
      }

      case 'source-released':
        return this.complete(operation, data);

      case 'rolling-back':
        return this.finishRolledBack(operation, operation.error ?? 'rolled back');

      default:
        this.log.warn({ operation: operation.id, phase }, 'move in an unknown phase; leaving it to an operator');
        return false;
    }
  }

  /** Rolls back a move that has not reached its commit point; says why in the journal and an event. */
  async rollBack(operation: Operation, reason: string): Promise<boolean> {
    if (isPastCommitPoint(operation.phase as MovePhase)) {
      this.log.warn({ operation: operation.id, reason }, 'a move past its commit point cannot roll back; it rolls forward');
      return false;
    }
    await this.store.updateOperation(operation.id, { phase: 'rolling-back', error: reason, now: this.clock() });
    failpoint('move:rolling-back');
    return this.finishRolledBack(operation, reason);
  }

  private async finishRolledBack(operation: Operation, reason: string): Promise<boolean> {
    const data = operation.data as unknown as MoveData;
    // Dropping the move row withdraws the incoming gear from the target (its agent deletes the
    // copy), the target endpoint from the route table, and resumes a paused source.
    await this.store.deleteGearMove(data.gearId);
    await this.store.updateOperation(operation.id, { phase: 'rolled-back', status: 'rolled-back', error: reason, now: this.clock() });
    this.onMoveEnded('rolled-back', this.clock() - operation.createdAt);
    this.changes.notify();
    await this.events.record({
      kind: 'gear.move-failed',
      severity: 'warning',
      subject: `gear:${data.gearId}`,
      message: `move of gear ${data.gearId} from ${data.from} to ${data.to} rolled back: ${reason}; the gear keeps running on ${data.from}`,
      data: { operation: operation.id, from: data.from, to: data.to, drain: data.drainId, reason },
    });
    return true;
  }

  private async complete(operation: Operation, data: MoveData): Promise<boolean> {
    const now = this.clock();
    // The move row is gone once completeGearMove committed; only the journal is left to close.
    if (await this.store.getGearMove(data.gearId)) await this.store.completeGearMove(data.gearId, now);
    const done = await this.store.updateOperation(operation.id, { phase: 'done', status: 'succeeded', now });
    this.onMoveEnded('succeeded', now - operation.createdAt);
    this.changes.notify();
    const pause = (done.data as unknown as MoveData).pauseMs;
    await this.events.record({
      kind: 'gear.moved',
      subject: `gear:${data.gearId}`,
      message: `gear ${data.gearId} moved from ${data.from} to ${data.to}${pause ? ` (paused ${pause} ms for the final copy)` : ' (no pause)'}`,
      data: { operation: operation.id, from: data.from, to: data.to, drain: data.drainId, pauseMs: pause ?? null, durationMs: now - operation.createdAt },
    });
    return true;
  }

  /** Writes the next phase, then carries it out: the journal is always at or ahead of the world. */
  private async advance(operation: Operation, next: MovePhase, carryOut: () => Promise<unknown>, data: Record<string, unknown> = {}): Promise<boolean> {
    await this.store.updateOperation(operation.id, { phase: next, data, now: this.clock() });
    failpoint(`move:${next}`);
    await carryOut();
    this.changes.notify();
    return true;
  }

  private async routersHaveTableSince(switchedAt: number, now: number): Promise<boolean> {
    const routers = await this.store.listRouters(now - this.settings.routerLiveMs);
    const behind = routers.filter((router) => router.lastServedAt < switchedAt);
    if (behind.length === 0) {
      const lastServed = Math.max(switchedAt, ...routers.map((router) => router.lastServedAt));
      return now - lastServed >= this.settings.routerGraceMs;
    }
    if (now - switchedAt >= this.settings.routerSyncTimeoutMs) {
      this.log.warn({ routers: behind.map((router) => router.name) }, 'routers did not fetch the new route table in time; releasing the source anyway');
      return true;
    }
    return false;
  }
}

export function moveView(operation: Operation, move: GearMove | undefined, names: { app: string; domain: string }) {
  const data = operation.data as unknown as MoveData;
  return {
    id: operation.id,
    gear: data.gearId,
    app: names.app,
    domain: names.domain,
    from: data.from,
    to: data.to,
    phase: operation.phase,
    status: operation.status,
    pauseMs: move?.pauseMs ?? data.pauseMs ?? null,
    error: operation.error,
    startedAt: new Date(operation.createdAt).toISOString(),
    updatedAt: new Date(operation.updatedAt).toISOString(),
  };
}
