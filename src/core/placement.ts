/**
 * The placement planner: which node host gets the next gear (OpenShift v2 semantics).
 *
 * A node host is a candidate when it is `active`, serves the requested gear profile, belongs to a
 * district of that profile with UIDs left, and runs fewer than `maxActiveGears` active gears.
 * Among candidates:
 *   1. spread: prefer a node holding the fewest gears of the app (none, whenever such a node has
 *      room) — a preference, not a rule: when every candidate holds the app, still place;
 *   2. by the snapshot's `PlacementOrder`:
 *      `least-loaded` (OpenShift v2's rule, the default): activeGears / maxActiveGears, then fewer
 *      active gears, then name;
 *      `packed` (pools the autoscaler manages): the most allocated node with room first, then
 *      more active gears, then name — Kubernetes' "MostAllocated" scoring. Packing is what lets
 *      an autoscaled pool shrink without moving gears: new gears fill the fullest nodes, so the
 *      emptiest ones get none while others have room and empty as their apps end, and a node
 *      with no gears left leaves with nothing to move. Least-loaded placement does the opposite:
 *      it refills exactly the node that scale-down would remove.
 * `excludeNodeIds` is a hard rule. No candidate → `ExhaustedError` (`no_capacity`) saying why.
 *
 * `placeGear` decides and changes nothing; `applyPlacement` is the executor's step that counts the
 * decision into the snapshot, so a batch (a scale-up of several gears) sees its own placements.
 * Planners that try a batch without committing to it (`planDrain`) work on
 * `clonePlacementSnapshot`; `releaseUids` counts UIDs that moving gears take along as free.
 * A gear that is not active (`active: false`) takes a UID but no `max_active_gears` slot.
 *
 * Cost: the snapshot keeps, per profile and per district, an indexed heap of the candidates in
 * placement order (`NodeLoadIndex`). Building is O(n); `placeGear` reads the heap's top, or — when
 * the app already has gears — walks the heap in that order past the nodes that hold it (O(k log k) for k
 * skipped nodes, bounded by `MAX_SPREAD_WALK`, after which a linear scan is cheaper anyway);
 * `applyPlacement` re-sifts one node in O(log n). A node leaves the heaps when it is full, all
 * nodes of a district leave when its UIDs run out. Only the failure path scans every node, to say
 * why nothing fits.
 */
import type { NodeState } from './model.ts';
import { ConflictError, InputError } from './errors.ts';
import { NodeLoadIndex, compareLoad, comparePacking } from './node-load-index.ts';
import type { LoadComparator, LoadIndexEntry, VisitDecision } from './node-load-index.ts';
import { explainNoCapacity } from './placement-failure.ts';

export interface PlacementNode {
  readonly id: string;
  readonly name: string;
  readonly gearProfile: string;
  readonly districtId: string | null;
  readonly state: NodeState;
  readonly maxActiveGears: number;
  /** gears placed here whose desired state is active */
  readonly activeGears: number;
}

export interface PlacementDistrict {
  readonly id: string;
  readonly name: string;
  readonly gearProfile: string;
  readonly availableUids: number;
}

export interface PlacementRequest {
  readonly appId: string;
  readonly gearProfile: string;
  /** restrict to one district */
  readonly districtId?: string;
  /** node id → gears of this app already there */
  readonly appGearsByNode: ReadonlyMap<string, number>;
  /** never choose these (e.g. the source of a move) */
  readonly excludeNodeIds?: ReadonlySet<string>;
  /**
   * false: the gear is not active (desired state stopped, e.g. moved by a drain). It takes a UID
   * but no `max_active_gears` slot, so when no candidate has a slot left it may still go to an
   * active node that is full (spread, then least loaded, as usual). Default true.
   */
  readonly active?: boolean;
}

export interface Placement {
  readonly kind: 'place';
  readonly nodeId: string;
  readonly nodeName: string;
  readonly districtId: string;
  /** A sentence an operator can read: what was chosen and why. */
  readonly reason: string;
}

/**
 * The nodes and districts one planning pass works on. Opaque: only `placeGear` and
 * `applyPlacement` change or use its index; the accessors return copies with the current counts.
 */
export interface PlacementSnapshot {
  /** The node as the snapshot counts it now (applied placements included), or undefined. */
  node(id: string): PlacementNode | undefined;
  /** The district as the snapshot counts it now (applied placements included), or undefined. */
  district(id: string): PlacementDistrict | undefined;
}

/** How candidates are ranked once spread is served (see the top of this file). */
export type PlacementOrder = 'least-loaded' | 'packed';
export const PLACEMENT_ORDERS: readonly PlacementOrder[] = ['least-loaded', 'packed'];

/**
 * How many nodes the spread walk visits before it gives up and scans all candidates. An app
 * rarely has more gears than this; past it, k log k for the walk approaches a plain scan's n.
 */
export const MAX_SPREAD_WALK = 256;

export function createPlacementSnapshot(input: {
  nodes: readonly PlacementNode[];
  districts: readonly PlacementDistrict[];
  /** Default `least-loaded`. */
  order?: PlacementOrder;
}): PlacementSnapshot {
  return new IndexedPlacementSnapshot(input.nodes, input.districts, input.order ?? 'least-loaded');
}

/** Chooses the node for one new gear. Pure: reads the snapshot, changes nothing. */
export function placeGear(snapshot: PlacementSnapshot, request: PlacementRequest): Placement {
  const state = internals(snapshot);
  const scope = state.candidatesFor(request);
  let choice = scope === undefined ? undefined : chooseNode(scope, request);
  // Rare path (scan): a node with a slot always comes first (it is less loaded than a full one,
  // and packing fills slots, not past max_active_gears), so full nodes are looked at only when
  // none has a slot.
  if (choice === undefined && request.active === false) choice = chooseFullNode(state, request);
  if (choice === undefined) {
    throw explainNoCapacity({
      request,
      nodes: state.nodesOfProfile(request.gearProfile),
      districts: state.districts,
    });
  }
  const node = choice.node;
  // A candidate always has a district (that is part of being a candidate).
  const district = node.district!;
  return Object.freeze({
    kind: 'place',
    nodeId: node.id,
    nodeName: node.name,
    districtId: district.id,
    reason: describeChoice(choice, request, district.name, state.order),
  });
}

/**
 * The executor's step once a placement is carried out: one more active gear on the node, one
 * UID fewer in its district, the index updated. Throws `ConflictError` (`stale_placement`) when
 * the placement no longer fits this snapshot (the node stopped being a candidate, e.g. because
 * the same placement was applied twice), since counting it would break the capacity invariants.
 *
 * `active: false` counts a gear that is not active (desired state stopped): it takes a UID but
 * no `max_active_gears` slot, because capacity is counted in active gears (OpenShift v2) and the
 * snapshot's `activeGears` counts only gears whose desired state is started.
 */
export function applyPlacement(snapshot: PlacementSnapshot, placement: Placement, options: { readonly active?: boolean } = {}): void {
  internals(snapshot).apply(placement, options.active ?? true);
}

/**
 * An independent copy with the current counts (applied placements included), so a planner can
 * try placements on it without changing the caller's snapshot. O(n): one heapify per heap.
 */
export function clonePlacementSnapshot(snapshot: PlacementSnapshot): PlacementSnapshot {
  const state = internals(snapshot);
  // The entries have the shape of PlacementNode/PlacementDistrict; the constructor copies them.
  return new IndexedPlacementSnapshot([...state.nodes.values()], [...state.districts.values()], state.order);
}

/**
 * Give `count` UIDs back to a district, as gears leaving it will: a planner of moves counts the
 * moving gears' UIDs as free, because a gear that stays in its district keeps its UID and so
 * needs none of the district's free ones. Nodes of a district that had run out of UIDs become
 * candidates again. Unknown district: `InputError`.
 */
export function releaseUids(snapshot: PlacementSnapshot, districtId: string, count: number): void {
  internals(snapshot).releaseUids(districtId, count);
}

// --- the snapshot ---------------------------------------------------------------------------

/** Heap slots of `NodeEntry.heapPositions`. */
const PROFILE_HEAP = 0;
const DISTRICT_HEAP = 1;

interface NodeEntry extends LoadIndexEntry {
  readonly id: string;
  readonly name: string;
  readonly gearProfile: string;
  readonly districtId: string | null;
  readonly state: NodeState;
  readonly maxActiveGears: number;
  activeGears: number;
  readonly heapPositions: number[];
  /** null when the node has no district or names one the snapshot does not know. */
  readonly district: DistrictEntry | null;
}

interface DistrictEntry {
  readonly id: string;
  readonly name: string;
  readonly gearProfile: string;
  availableUids: number;
  /** The district's candidates; empty once its UIDs run out. */
  readonly candidates: NodeLoadIndex<NodeEntry>;
}

interface ProfileEntry {
  /** Every node of the profile, candidate or not: the failure path explains each one. */
  readonly nodes: NodeEntry[];
  readonly candidates: NodeLoadIndex<NodeEntry>;
}

function isCandidate(node: NodeEntry): boolean {
  return takesInactiveGear(node) && node.activeGears < node.maxActiveGears;
}

/** A candidate but for max_active_gears: where a gear that is not active may go. */
function takesInactiveGear(node: NodeEntry): boolean {
  const district = node.district;
  return node.state === 'active' && district !== null && district.gearProfile === node.gearProfile && district.availableUids > 0;
}

class IndexedPlacementSnapshot implements PlacementSnapshot {
  readonly nodes = new Map<string, NodeEntry>();
  readonly districts = new Map<string, DistrictEntry>();
  readonly profiles = new Map<string, ProfileEntry>();
  readonly compare: LoadComparator;

  constructor(
    nodes: readonly PlacementNode[],
    districts: readonly PlacementDistrict[],
    readonly order: PlacementOrder,
  ) {
    if (!PLACEMENT_ORDERS.includes(order)) throw new InputError(`unknown placement order '${order}' (expected ${PLACEMENT_ORDERS.join(' or ')})`, 'order');
    this.compare = order === 'packed' ? comparePacking : compareLoad;
    const districtCandidates = new Map<string, NodeEntry[]>();
    for (const district of districts) {
      if (this.districts.has(district.id)) throw new InputError(`district id '${district.id}' appears twice in the placement snapshot`, 'districts');
      this.districts.set(district.id, {
        id: district.id,
        name: district.name,
        gearProfile: district.gearProfile,
        availableUids: district.availableUids,
        candidates: new NodeLoadIndex<NodeEntry>(DISTRICT_HEAP, this.compare),
      });
      districtCandidates.set(district.id, []);
    }
    const profileCandidates = new Map<string, NodeEntry[]>();
    for (const node of nodes) {
      if (this.nodes.has(node.id)) throw new InputError(`node id '${node.id}' appears twice in the placement snapshot`, 'nodes');
      const entry: NodeEntry = {
        id: node.id,
        name: node.name,
        gearProfile: node.gearProfile,
        districtId: node.districtId,
        state: node.state,
        maxActiveGears: node.maxActiveGears,
        activeGears: node.activeGears,
        heapPositions: [-1, -1],
        district: node.districtId === null ? null : (this.districts.get(node.districtId) ?? null),
      };
      this.nodes.set(entry.id, entry);
      let profile = this.profiles.get(entry.gearProfile);
      if (profile === undefined) {
        profile = { nodes: [], candidates: new NodeLoadIndex<NodeEntry>(PROFILE_HEAP, this.compare) };
        this.profiles.set(entry.gearProfile, profile);
        profileCandidates.set(entry.gearProfile, []);
      }
      profile.nodes.push(entry);
      if (isCandidate(entry)) {
        profileCandidates.get(entry.gearProfile)!.push(entry);
        districtCandidates.get(entry.district!.id)!.push(entry);
      }
    }
    // Heapify once per heap: O(n) overall instead of n inserts at O(log n).
    for (const [name, candidates] of profileCandidates) this.profiles.get(name)!.candidates.heapify(candidates);
    for (const [id, candidates] of districtCandidates) this.districts.get(id)!.candidates.heapify(candidates);
  }

  node(id: string): PlacementNode | undefined {
    const entry = this.nodes.get(id);
    if (entry === undefined) return undefined;
    return Object.freeze({
      id: entry.id,
      name: entry.name,
      gearProfile: entry.gearProfile,
      districtId: entry.districtId,
      state: entry.state,
      maxActiveGears: entry.maxActiveGears,
      activeGears: entry.activeGears,
    });
  }

  district(id: string): PlacementDistrict | undefined {
    const entry = this.districts.get(id);
    if (entry === undefined) return undefined;
    return Object.freeze({ id: entry.id, name: entry.name, gearProfile: entry.gearProfile, availableUids: entry.availableUids });
  }

  /** The heap to choose from, or undefined when the request names no usable scope. */
  candidatesFor(request: PlacementRequest): NodeLoadIndex<NodeEntry> | undefined {
    if (request.districtId === undefined) return this.profiles.get(request.gearProfile)?.candidates;
    const district = this.districts.get(request.districtId);
    if (district === undefined || district.gearProfile !== request.gearProfile) return undefined;
    return district.candidates;
  }

  nodesOfProfile(profile: string): readonly NodeEntry[] {
    return this.profiles.get(profile)?.nodes ?? [];
  }

  releaseUids(districtId: string, count: number): void {
    const district = this.districts.get(districtId);
    if (district === undefined) throw new InputError(`district id '${districtId}' is not in the placement snapshot`, 'districtId');
    if (!Number.isSafeInteger(count) || count < 0) throw new InputError(`cannot release ${count} UIDs`, 'count');
    if (count === 0) return;
    const wasEmpty = district.availableUids <= 0;
    district.availableUids += count;
    if (!wasEmpty || district.availableUids <= 0) return;
    // The district's nodes left both heaps when its UIDs ran out; those that qualify come back.
    const profile = this.profiles.get(district.gearProfile);
    if (profile === undefined) return;
    for (const node of profile.nodes) {
      if (node.district === district && isCandidate(node)) {
        profile.candidates.insert(node);
        district.candidates.insert(node);
      }
    }
  }

  apply(placement: Placement, active: boolean): void {
    const node = this.nodes.get(placement.nodeId);
    const fits = node !== undefined && (active ? isCandidate(node) : takesInactiveGear(node));
    if (node === undefined || !fits || node.district!.id !== placement.districtId) {
      const why = node === undefined ? 'is not in this snapshot' : `cannot take another gear here (${describeNodeBriefly(node)})`;
      throw new ConflictError('stale_placement', `placement on node '${placement.nodeName}' no longer fits: the node ${why}`, {
        nodeId: placement.nodeId,
        districtId: placement.districtId,
      });
    }
    const district = node.district!;
    const profile = this.profiles.get(node.gearProfile)!;
    if (active) node.activeGears += 1;
    district.availableUids -= 1;
    if (district.availableUids === 0) {
      // IMPORTANT: take the district's candidates out of the profile heap before clearing the
      // district heap, because clearing is what forgets which nodes those were.
      for (const member of district.candidates.entries()) profile.candidates.remove(member);
      district.candidates.clear();
    } else if (!active) {
      // Load is active gears over max_active_gears: unchanged, so the heaps are too (a full node
      // taking an inactive gear was in none and stays out).
    } else if (node.activeGears >= node.maxActiveGears) {
      profile.candidates.remove(node);
      district.candidates.remove(node);
    } else {
      profile.candidates.increased(node);
      district.candidates.increased(node);
    }
  }
}

function internals(snapshot: PlacementSnapshot): IndexedPlacementSnapshot {
  if (!(snapshot instanceof IndexedPlacementSnapshot)) {
    throw new InputError('a placement snapshot must come from createPlacementSnapshot()', 'snapshot');
  }
  return snapshot;
}

// --- choosing -------------------------------------------------------------------------------

interface Choice {
  readonly node: NodeEntry;
  /** Gears of the app already on the chosen node (0 unless every candidate holds the app). */
  readonly appGears: number;
  /** Candidates ranked before the chosen node that were passed over because they hold the app. */
  readonly passedOver: number;
  /** A full node chosen for an inactive gear because no candidate had a slot. */
  readonly full?: boolean;
}

function chooseNode(candidates: NodeLoadIndex<NodeEntry>, request: PlacementRequest): Choice | undefined {
  const held = request.appGearsByNode;
  const excluded = request.excludeNodeIds;
  if (held.size === 0 && (excluded === undefined || excluded.size === 0)) {
    // The common case (a new app, a move of an app's only gear): the heap's top.
    const top = candidates.peek();
    return top === undefined ? undefined : { node: top, appGears: 0, passedOver: 0 };
  }

  // Walk in load order: the first node without the app is the answer. The nodes passed over all
  // hold the app or are excluded, so the walk is as long as the app is wide, plus one.
  let free = undefined as NodeEntry | undefined;
  let fewest = undefined as NodeEntry | undefined;
  let fewestCount = Number.POSITIVE_INFINITY;
  let passedOver = 0;
  const outcome = candidates.visitInOrder(MAX_SPREAD_WALK, (node): VisitDecision => {
    if (excluded?.has(node.id)) return 'continue';
    const count = held.get(node.id) ?? 0;
    if (count <= 0) {
      free = node;
      return 'stop';
    }
    passedOver += 1;
    // Visited in placement order, so the first node with a given count is the best of those.
    if (count < fewestCount) {
      fewest = node;
      fewestCount = count;
    }
    return 'continue';
  });
  if (outcome === 'stopped') return { node: free!, appGears: 0, passedOver };
  // Every candidate was visited and every one holds the app (or is excluded): spread gives way.
  if (outcome === 'exhausted') return fewest === undefined ? undefined : { node: fewest, appGears: fewestCount, passedOver: 0 };
  return scanAllCandidates(candidates, held, excluded);
}

/**
 * For a gear that is not active when no candidate has a slot: the full active nodes of the scope,
 * by the same rule (fewest gears of the app, then least loaded). A linear scan, on a rare path.
 */
function chooseFullNode(state: IndexedPlacementSnapshot, request: PlacementRequest): Choice | undefined {
  if (request.districtId !== undefined) {
    const district = state.districts.get(request.districtId);
    if (district === undefined || district.gearProfile !== request.gearProfile) return undefined;
  }
  let best = undefined as NodeEntry | undefined;
  let bestCount = Number.POSITIVE_INFINITY;
  for (const node of state.nodesOfProfile(request.gearProfile)) {
    if (request.districtId !== undefined && node.district?.id !== request.districtId) continue;
    if (!takesInactiveGear(node) || request.excludeNodeIds?.has(node.id)) continue;
    const count = Math.max(0, request.appGearsByNode.get(node.id) ?? 0);
    if (best === undefined || count < bestCount || (count === bestCount && state.compare(node, best) < 0)) {
      best = node;
      bestCount = count;
    }
  }
  return best === undefined ? undefined : { node: best, appGears: bestCount, passedOver: 0, full: true };
}

/** The same rule as the walk, by a linear scan: for apps wider than `MAX_SPREAD_WALK`. */
function scanAllCandidates(
  candidates: NodeLoadIndex<NodeEntry>,
  held: ReadonlyMap<string, number>,
  excluded: ReadonlySet<string> | undefined,
): Choice | undefined {
  let best = undefined as NodeEntry | undefined;
  let bestCount = Number.POSITIVE_INFINITY;
  for (const node of candidates.entries()) {
    if (excluded?.has(node.id)) continue;
    const count = Math.max(0, held.get(node.id) ?? 0);
    if (best === undefined || count < bestCount || (count === bestCount && candidates.compare(node, best) < 0)) {
      best = node;
      bestCount = count;
    }
  }
  if (best === undefined) return undefined;
  let passedOver = 0;
  if (bestCount === 0) {
    for (const node of candidates.entries()) {
      if (!excluded?.has(node.id) && (held.get(node.id) ?? 0) > 0 && candidates.compare(node, best) < 0) passedOver += 1;
    }
  }
  return { node: best, appGears: bestCount, passedOver };
}

function describeChoice(choice: Choice, request: PlacementRequest, districtName: string, order: PlacementOrder): string {
  const node = choice.node;
  // Packed: the fullest node with room (autoscaled pools); least-loaded otherwise.
  const best = order === 'packed' ? 'most allocated' : 'least loaded';
  const better = order === 'packed' ? 'fuller' : 'less loaded';
  const where = `of profile '${request.gearProfile}' in district '${districtName}'`;
  const load = `${node.activeGears}/${node.maxActiveGears} active gears`;
  if (choice.full === true) {
    const spread = choice.appGears > 0 ? `, holding ${choice.appGears} gear(s) of app '${request.appId}' already` : '';
    return (
      `no active node ${request.districtId === undefined ? `of profile '${request.gearProfile}'` : where} has an active slot left; ` +
      `node '${node.name}' is the ${best} (${load}${spread}) and takes the gear because it is not active and needs no slot, in district '${districtName}'`
    );
  }
  if (choice.appGears > 0) {
    const scope = request.districtId === undefined ? `of profile '${request.gearProfile}'` : where;
    return (
      `every candidate node ${scope} already holds a gear of app '${request.appId}', so the gears cannot spread further; ` +
      `node '${node.name}' holds the fewest (${choice.appGears}) and is the ${best} of those, in district '${districtName}': ${load}`
    );
  }
  if (choice.passedOver > 0) {
    const others = choice.passedOver === 1 ? `1 ${better} node holds one already` : `${choice.passedOver} ${better} nodes hold one already`;
    return `node '${node.name}' is the ${best} active node ${where} without a gear of app '${request.appId}' (${others}): ${load}`;
  }
  return `node '${node.name}' is the ${best} active node ${where}${order === 'packed' ? ' with room' : ''}: ${load}`;
}

function describeNodeBriefly(node: NodeEntry): string {
  if (node.state !== 'active') return `it is ${node.state}`;
  if (node.district === null) return 'it is in no known district';
  if (node.district.availableUids <= 0) return `district '${node.district.name}' has no UIDs left`;
  if (node.activeGears >= node.maxActiveGears) return `it is full, ${node.activeGears}/${node.maxActiveGears} active gears`;
  return `it is in district '${node.district.name}'`;
}
