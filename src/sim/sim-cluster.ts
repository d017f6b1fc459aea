/**
 * The simulated platform: node hosts of one pool in one district, apps and their gears, and a
 * simulated provider (boot delay, quota). Placement and drains go through the real planners
 * (`placeGear`, `applyPlacement`), on snapshots built from this state, exactly as the broker's
 * executors use them; only the side effects (a node "boots", a gear "moves") are simulated.
 */
import type { DrainGear } from '../core/drain-plan.ts';
import { applyPlacement, createPlacementSnapshot, placeGear, type PlacementOrder, type PlacementSnapshot } from '../core/placement.ts';
import type { ScaleNode } from '../core/scale-plan.ts';

export const SIM_DISTRICT = 'sim-district';
export const SIM_PROFILE = 'small';

export interface SimNode {
  readonly id: string;
  readonly name: string;
  state: 'provisioning' | 'active' | 'draining';
  readonly maxActiveGears: number;
  /** When the cloud was asked for it: it is paid for from then. */
  readonly requestedAt: number;
  /** When it registered (null while provisioning). */
  readyAt: number | null;
  /** gear id → app id */
  readonly gears: Map<string, string>;
}

export class SimCluster {
  readonly nodes = new Map<string, SimNode>();
  /** app id → gear id → node id */
  readonly appGears = new Map<string, Map<string, string>>();
  /** app id → node id → gears of the app there (what the planners' spread rule reads). */
  readonly gearsByApp = new Map<string, Map<string, number>>();
  private nextNode = 1;
  private nextGear = 1;
  private placement: PlacementSnapshot | undefined;
  /** Node-seconds paid for nodes already deleted. */
  private deletedNodeSeconds = 0;
  peakNodes = 0;

  constructor(
    readonly maxActiveGears: number,
    /** UIDs of the district: gears beyond them cannot be placed. */
    private readonly districtUids: number,
    /** How placement ranks nodes (the policy's: see SimPolicy.placementOrder). */
    private readonly order: PlacementOrder = 'least-loaded',
  ) {}

  /** Nodes the cloud runs or is creating (what counts against quota and max). */
  get size(): number {
    return this.nodes.size;
  }

  get gearCount(): number {
    let count = 0;
    for (const node of this.nodes.values()) count += node.gears.size;
    return count;
  }

  addNode(now: number, ready: boolean): SimNode {
    const id = `n${this.nextNode++}`;
    const node: SimNode = { id, name: `sim-node-${id.slice(1)}`, state: ready ? 'active' : 'provisioning', maxActiveGears: this.maxActiveGears, requestedAt: now, readyAt: ready ? now : null, gears: new Map() };
    this.nodes.set(id, node);
    this.peakNodes = Math.max(this.peakNodes, this.nodes.size);
    this.changed();
    return node;
  }

  register(node: SimNode, now: number): void {
    node.state = 'active';
    node.readyAt = now;
    this.changed();
  }

  setState(node: SimNode, state: 'active' | 'draining'): void {
    node.state = state;
    this.changed();
  }

  deleteNode(node: SimNode, now: number): void {
    if (node.gears.size > 0) throw new Error(`simulator bug: deleting ${node.name} with ${node.gears.size} gears`);
    this.deletedNodeSeconds += now - node.requestedAt;
    this.nodes.delete(node.id);
    this.changed();
  }

  /** Node-hours paid so far: deleted nodes, and the live ones up to `now`. */
  nodeHours(now: number): number {
    let seconds = this.deletedNodeSeconds;
    for (const node of this.nodes.values()) seconds += now - node.requestedAt;
    return seconds / 3600;
  }

  /**
   * Places all `gears` gears of a new app, spread by the placement planner, or none (as the
   * broker's create transaction does). Returns false when they do not all fit.
   */
  placeApp(appId: string, gears: number): boolean {
    const snapshot = this.snapshot();
    const byNode = new Map<string, number>();
    const chosen: string[] = [];
    try {
      for (let index = 0; index < gears; index++) {
        const placement = placeGear(snapshot, { appId, gearProfile: SIM_PROFILE, appGearsByNode: byNode });
        applyPlacement(snapshot, placement);
        byNode.set(placement.nodeId, (byNode.get(placement.nodeId) ?? 0) + 1);
        chosen.push(placement.nodeId);
      }
    } catch {
      // The snapshot took the partial placements: throw it away.
      this.placement = undefined;
      return false;
    }
    const ids = new Map<string, string>();
    for (const nodeId of chosen) {
      const gearId = `g${this.nextGear++}`;
      this.nodes.get(nodeId)!.gears.set(gearId, appId);
      ids.set(gearId, nodeId);
    }
    this.appGears.set(appId, ids);
    this.gearsByApp.set(appId, byNode);
    // The snapshot already counts these placements: it stays valid.
    return true;
  }

  removeApp(appId: string): void {
    const gears = this.appGears.get(appId);
    if (!gears) return;
    for (const [gearId, nodeId] of gears) this.nodes.get(nodeId)?.gears.delete(gearId);
    this.appGears.delete(appId);
    this.gearsByApp.delete(appId);
    this.changed();
  }

  /** Moves one gear off its node to wherever placement says (the drained node takes none). */
  moveGear(gearId: string, from: SimNode): boolean {
    const appId = from.gears.get(gearId)!;
    const byApp = this.gearsByApp.get(appId)!;
    let placement;
    try {
      placement = placeGear(this.snapshot(), { appId, gearProfile: SIM_PROFILE, appGearsByNode: byApp, excludeNodeIds: new Set([from.id]) });
    } catch {
      return false;
    }
    applyPlacement(this.snapshot(), placement);
    from.gears.delete(gearId);
    this.nodes.get(placement.nodeId)!.gears.set(gearId, appId);
    this.appGears.get(appId)!.set(gearId, placement.nodeId);
    byApp.set(from.id, byApp.get(from.id)! - 1);
    if (byApp.get(from.id) === 0) byApp.delete(from.id);
    byApp.set(placement.nodeId, (byApp.get(placement.nodeId) ?? 0) + 1);
    // The source lost a gear; a drained node is no candidate, but keep the snapshot honest.
    this.changed();
    return true;
  }

  /** The registered nodes as the scale planner sees them. */
  scaleNodes(): ScaleNode[] {
    const nodes: ScaleNode[] = [];
    for (const node of this.nodes.values()) {
      if (node.state === 'provisioning') continue;
      nodes.push({ id: node.id, name: node.name, districtId: SIM_DISTRICT, state: node.state, maxActiveGears: node.maxActiveGears, activeGears: node.gears.size, gears: node.gears.size, createdAt: node.readyAt! });
    }
    return nodes;
  }

  gearsOn(nodeId: string): DrainGear[] {
    const node = this.nodes.get(nodeId);
    return node ? [...node.gears].map(([id, appId]) => ({ id, appId, active: true })) : [];
  }

  availableUids(): number {
    return this.districtUids - this.gearCount;
  }

  private snapshot(): PlacementSnapshot {
    this.placement ??= createPlacementSnapshot({
      order: this.order,
      nodes: this.scaleNodes().map((node) => ({ id: node.id, name: node.name, gearProfile: SIM_PROFILE, districtId: SIM_DISTRICT, state: node.state, maxActiveGears: node.maxActiveGears, activeGears: node.activeGears })),
      districts: [{ id: SIM_DISTRICT, name: SIM_DISTRICT, gearProfile: SIM_PROFILE, availableUids: this.availableUids() }],
    });
    return this.placement;
  }

  private changed(): void {
    this.placement = undefined;
  }
}
