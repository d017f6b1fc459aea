/**
 * The drain planner: where each gear of a node host goes when the node is emptied, and the
 * single-move variant behind `geartide admin move`. Pure: decides on a copy of the placement
 * snapshot and returns frozen data; the drainer (broker) carries the moves out.
 *
 * The rules are the placement planner's own (`placeGear` on a copy of the snapshot, each choice
 * applied to the copy so later gears see earlier ones), with:
 *   - the drained node excluded (`excludeNodeIds`), so a node never drains onto itself;
 *   - the node's own district only, because a gear keeps its UID only inside its district; with
 *     `changeDistrict` the own district is still tried first and only a gear that does not fit
 *     there goes to another district of the profile;
 *   - each app's gears spread: `gearsByApp` counts every app's gears on the other nodes, and the
 *     copy of the count is bumped as this plan places gears;
 *   - the moving gears' UIDs counted as free in the source district (`releaseUids`): a gear that
 *     stays in the district takes its own UID along, so a district with no free UIDs can still be
 *     drained in-district; a gear that leaves takes a free UID of its target district.
 *
 * Active and inactive gears: a gear is active when its desired state is started, which is what
 * the snapshot's `activeGears` counts (the store's `Node.activeGears`, OpenShift v2's
 * "capacity is counted in active gears"). Active gears are placed first, because they need a
 * `max_active_gears` slot and slots are the scarce resource; inactive gears (stopped; idle is an
 * observed state the caller folds into its `active` flag) take a UID but no slot
 * (`placeGear({active: false})`, `applyPlacement(…, {active: false})`). They go where an active
 * gear would go, and only when no node has a slot left to a full active node, so a drain is not
 * refused for stopped gears that count against nothing. Placing them last means they can never
 * take a slot an active gear needed. An inactive gear does not change a node's load, so several
 * of them follow the same least loaded node; the app spread still separates an app's gears.
 *
 * Order: gears are planned by (active first, app id, gear id), never in the caller's order, so the
 * same snapshot and gears give the same plan whatever order a query returned them in.
 */
import { ExhaustedError, InputError } from './errors.ts';
import { applyPlacement, clonePlacementSnapshot, placeGear, releaseUids } from './placement.ts';
import type { Placement, PlacementNode, PlacementRequest, PlacementSnapshot } from './placement.ts';

/** A gear on the node being drained. */
export interface DrainGear {
  readonly id: string;
  readonly appId: string;
  /** Desired state started: needs a `max_active_gears` slot on its target. */
  readonly active: boolean;
}

export interface DrainRequest {
  /** The node to empty. */
  readonly nodeId: string;
  /** Every gear on it. */
  readonly gears: readonly DrainGear[];
  /** app id → node id → gears of that app on that node (all nodes; the drained one is ignored). */
  readonly gearsByApp: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** Allow targets in other districts of the profile (the gear gets a new UID there). */
  readonly changeDistrict?: boolean;
}

export interface PlannedMove {
  readonly gearId: string;
  readonly fromNodeId: string;
  readonly toNodeId: string;
  readonly toNodeName: string;
  readonly toDistrictId: string;
}

/** Refused: not every gear fits. `unplaceable` lists the gears that found no target. */
export interface RefusedPlan {
  readonly kind: 'refuse';
  readonly reason: string;
  readonly unplaceable: readonly string[];
}

export type DrainPlan = { readonly kind: 'drain'; readonly reason: string; readonly moves: readonly PlannedMove[] } | RefusedPlan;

export type MovePlan = { readonly kind: 'move'; readonly reason: string; readonly move: PlannedMove } | RefusedPlan;

export interface MoveTargetRequest {
  readonly gear: DrainGear;
  readonly fromNodeId: string;
  /** The operator's `--to`; without it the placement planner chooses. */
  readonly toNodeId?: string;
  readonly changeDistrict?: boolean;
  /** node id → gears of the gear's app there, to spread the app when the planner chooses. */
  readonly appGearsByNode?: ReadonlyMap<string, number>;
}

/** How many target nodes a drain reason names before it says "and N more". */
const TARGETS_LISTED = 10;

const EMPTY_COUNTS: ReadonlyMap<string, number> = new Map();

/** Assigns every gear of `request.nodeId` a target, or refuses saying why they do not all fit. */
export function planDrain(snapshot: PlacementSnapshot, request: DrainRequest): DrainPlan {
  const source = sourceNode(snapshot, request.nodeId);
  const seen = new Set<string>();
  for (const gear of request.gears) {
    if (seen.has(gear.id)) throw new InputError(`gear '${gear.id}' appears twice in the drain request`, 'gears');
    seen.add(gear.id);
  }
  const changeDistrict = request.changeDistrict === true;
  const sourceDistrict = source.districtId === null ? undefined : snapshot.district(source.districtId);

  if (request.gears.length === 0) {
    return freeze({ kind: 'drain', reason: `node ${source.name} has no gears to move`, moves: [] });
  }
  if (sourceDistrict === undefined && !changeDistrict) {
    const why = source.districtId === null ? 'it is in no district' : `its district '${source.districtId}' is not known`;
    return freeze({
      kind: 'refuse',
      reason: `cannot drain node ${source.name}: ${why}, so its gears have no district to stay in (use --change-district)`,
      unplaceable: request.gears.map((gear) => gear.id),
    });
  }

  // IMPORTANT: plan on a copy, because applying placements is how later gears see earlier ones,
  // and the caller's snapshot must still describe the cluster as it is.
  const work = clonePlacementSnapshot(snapshot);
  if (sourceDistrict !== undefined) releaseUids(work, sourceDistrict.id, request.gears.length);

  const ordered = [...request.gears].sort(planningOrder);
  const countsByApp = new Map<string, Map<string, number>>();
  const moves: PlannedMove[] = [];
  const unplaceable: string[] = [];
  let firstFailure: ExhaustedError | undefined;
  for (const gear of ordered) {
    let counts = countsByApp.get(gear.appId);
    if (counts === undefined) {
      counts = new Map(request.gearsByApp.get(gear.appId) ?? EMPTY_COUNTS);
      countsByApp.set(gear.appId, counts);
    }
    const outcome = placeMovingGear(work, source, gear, counts, changeDistrict);
    if (outcome instanceof ExhaustedError) {
      firstFailure ??= outcome;
      unplaceable.push(gear.id);
      continue;
    }
    applyPlacement(work, outcome, { active: gear.active });
    counts.set(outcome.nodeId, (counts.get(outcome.nodeId) ?? 0) + 1);
    moves.push(toMove(gear, source, outcome));
  }

  if (firstFailure !== undefined) {
    return freeze({ kind: 'refuse', reason: describeRefusal(source, sourceDistrict?.name, request.gears.length, moves.length, changeDistrict, firstFailure), unplaceable });
  }
  return freeze({ kind: 'drain', reason: describeDrain(snapshot, source, sourceDistrict?.id, request.gears, moves), moves });
}

/**
 * The target of one gear move: the named node checked against the placement rules, or the
 * placement planner's choice. Does not change the snapshot.
 */
export function planMoveTarget(snapshot: PlacementSnapshot, request: MoveTargetRequest): MovePlan {
  const source = sourceNode(snapshot, request.fromNodeId);
  const gear = request.gear;
  const changeDistrict = request.changeDistrict === true;
  const refuse = (why: string): MovePlan => freeze({ kind: 'refuse', reason: `cannot move gear ${gear.id} from node ${source.name}: ${why}`, unplaceable: [gear.id] });

  if (request.toNodeId !== undefined) {
    const why = namedTargetProblem(snapshot, source, gear, request.toNodeId, changeDistrict);
    if (why !== undefined) return refuse(why);
    const target = snapshot.node(request.toNodeId)!;
    const district = snapshot.district(target.districtId!)!;
    const move = toMove(gear, source, { nodeId: target.id, nodeName: target.name, districtId: district.id });
    const across = district.id === source.districtId ? '' : ` (out of district ${districtName(snapshot, source.districtId)}, with a new UID)`;
    return freeze({
      kind: 'move',
      reason: `move gear ${gear.id} from node ${source.name} to node ${target.name} of district ${district.name}${across}: ${target.activeGears}/${target.maxActiveGears} active gears`,
      move,
    });
  }

  const sourceDistrict = source.districtId === null ? undefined : snapshot.district(source.districtId);
  if (sourceDistrict === undefined && !changeDistrict) return refuse('its node is in no known district (use --change-district)');
  // The gear's own UID goes along inside its district. That only changes the choice when the
  // district has no free UID at all (placeGear asks "any left?"), so copy only then.
  let work = snapshot;
  if (sourceDistrict !== undefined && sourceDistrict.availableUids <= 0) {
    work = clonePlacementSnapshot(snapshot);
    releaseUids(work, sourceDistrict.id, 1);
  }
  const outcome = placeMovingGear(work, source, gear, new Map(request.appGearsByNode ?? EMPTY_COUNTS), changeDistrict);
  if (outcome instanceof ExhaustedError) return refuse(outcome.message);
  return freeze({ kind: 'move', reason: `move gear ${gear.id} from node ${source.name} to node ${outcome.nodeName}: ${outcome.reason}`, move: toMove(gear, source, outcome) });
}

// --- helpers ---------------------------------------------------------------------------------

function sourceNode(snapshot: PlacementSnapshot, nodeId: string): PlacementNode {
  const node = snapshot.node(nodeId);
  // The broker builds the snapshot from the node's own profile, so a missing source is a bug.
  if (node === undefined) throw new InputError(`node id '${nodeId}' is not in the placement snapshot`, 'nodeId');
  return node;
}

function planningOrder(a: DrainGear, b: DrainGear): number {
  if (a.active !== b.active) return a.active ? -1 : 1;
  return compareText(a.appId, b.appId) || compareText(a.id, b.id);
}

/** By code unit, as placement orders names: never locale-dependent. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The gear's target in its own district, then (with changeDistrict) anywhere in the profile. */
function placeMovingGear(
  snapshot: PlacementSnapshot,
  source: PlacementNode,
  gear: DrainGear,
  appGearsByNode: ReadonlyMap<string, number>,
  changeDistrict: boolean,
): Placement | ExhaustedError {
  const base: PlacementRequest = {
    appId: gear.appId,
    gearProfile: source.gearProfile,
    appGearsByNode,
    excludeNodeIds: new Set([source.id]),
    active: gear.active,
  };
  let failure: ExhaustedError | undefined;
  if (source.districtId !== null) {
    try {
      return placeGear(snapshot, { ...base, districtId: source.districtId });
    } catch (error) {
      if (!(error instanceof ExhaustedError)) throw error;
      failure = error;
    }
  }
  if (!changeDistrict) return failure!;
  try {
    return placeGear(snapshot, base);
  } catch (error) {
    if (!(error instanceof ExhaustedError)) throw error;
    // The profile-wide explanation covers every district, the own one included.
    return error;
  }
}

/** Why the operator's `--to` node cannot take the gear, or undefined when it can. */
function namedTargetProblem(snapshot: PlacementSnapshot, source: PlacementNode, gear: DrainGear, toNodeId: string, changeDistrict: boolean): string | undefined {
  if (toNodeId === source.id) return `it is already on node ${source.name}`;
  const target = snapshot.node(toNodeId);
  // The snapshot holds one profile's nodes, so a node it lacks serves another profile (or is gone).
  if (target === undefined) return `node '${toNodeId}' is not a node host of profile '${source.gearProfile}'`;
  if (target.gearProfile !== source.gearProfile) return `node ${target.name} serves profile '${target.gearProfile}', the gear is '${source.gearProfile}'`;
  if (target.state !== 'active') return `node ${target.name} is ${target.state}: only active nodes take gears`;
  if (target.districtId === null) return `node ${target.name} is in no district`;
  const district = snapshot.district(target.districtId);
  if (district === undefined) return `node ${target.name} names district '${target.districtId}', which does not exist`;
  if (district.gearProfile !== target.gearProfile) return `node ${target.name} is in district ${district.name} of profile '${district.gearProfile}'`;
  const inDistrict = district.id === source.districtId;
  if (!inDistrict && !changeDistrict) {
    return `node ${target.name} is in district ${district.name}, the gear in district ${districtName(snapshot, source.districtId)}: a gear keeps its UID only inside its district (use --change-district to give it a new one)`;
  }
  // Inside its district the gear keeps its UID, so only a move out of it needs a free one.
  if (!inDistrict && district.availableUids <= 0) return `district ${district.name} has no UIDs left`;
  // An inactive gear needs no slot (see the header), so a full node may take it.
  if (gear.active && target.activeGears >= target.maxActiveGears) return `node ${target.name} is full (${target.activeGears}/${target.maxActiveGears} active gears)`;
  return undefined;
}

function districtName(snapshot: PlacementSnapshot, districtId: string | null): string {
  if (districtId === null) return '(none)';
  return snapshot.district(districtId)?.name ?? districtId;
}

function toMove(gear: DrainGear, source: PlacementNode, target: Pick<Placement, 'nodeId' | 'nodeName' | 'districtId'>): PlannedMove {
  return Object.freeze({ gearId: gear.id, fromNodeId: source.id, toNodeId: target.nodeId, toNodeName: target.nodeName, toDistrictId: target.districtId });
}

function describeRefusal(
  source: PlacementNode,
  sourceDistrictName: string | undefined,
  total: number,
  fit: number,
  changeDistrict: boolean,
  failure: ExhaustedError,
): string {
  const where = changeDistrict
    ? `the other active nodes of profile '${source.gearProfile}'`
    : `the other active nodes of district ${sourceDistrictName}`;
  const howMany = fit === 0 ? `none of its ${gears(total)} fits on ${where}` : `only ${fit} of its ${gears(total)} fit on ${where}`;
  const hint = changeDistrict ? '' : ' (--change-district would also consider other districts)';
  return `cannot drain node ${source.name}: ${howMany}${hint}; ${failure.message}`;
}

/** "move 20 gears of node n1 to 3 other active nodes of district east: n2 (7), n3 (7), n4 (6)" */
function describeDrain(
  snapshot: PlacementSnapshot,
  source: PlacementNode,
  sourceDistrictId: string | undefined,
  allGears: readonly DrainGear[],
  moves: readonly PlannedMove[],
): string {
  const byTarget = new Map<string, { name: string; districtId: string; count: number }>();
  for (const move of moves) {
    const entry = byTarget.get(move.toNodeId) ?? { name: move.toNodeName, districtId: move.toDistrictId, count: 0 };
    entry.count += 1;
    byTarget.set(move.toNodeId, entry);
  }
  const targets = [...byTarget.values()].sort((a, b) => b.count - a.count || compareText(a.name, b.name));
  const districts = new Set(targets.map((target) => target.districtId));
  const stayIn = districts.size === 1 && sourceDistrictId !== undefined && districts.has(sourceDistrictId);

  const inactive = allGears.filter((gear) => !gear.active).length;
  const mix = inactive === 0 ? '' : ` (${allGears.length - inactive} active, ${inactive} stopped or idle)`;
  const nodes = targets.length === 1 ? '1 other active node' : `${targets.length} other active nodes`;
  let scope: string;
  let label: (target: { name: string; districtId: string; count: number }) => string;
  if (stayIn) {
    scope = `of district ${districtName(snapshot, sourceDistrictId!)}`;
    label = (target) => `${target.name} (${target.count})`;
  } else {
    const leaving = moves.filter((move) => move.toDistrictId !== sourceDistrictId).length;
    const from = sourceDistrictId === undefined ? 'no district' : `district ${districtName(snapshot, sourceDistrictId)}`;
    const names = [...districts].map((id) => districtName(snapshot, id)).sort(compareText);
    scope =
      names.length === 1
        ? `of district ${names[0]} (out of ${from}, with new UIDs)`
        : `in districts ${names.join(', ')} (${gears(leaving)} out of ${from}, with new UIDs)`;
    label = (target) => `${target.name} (${target.count}, ${districtName(snapshot, target.districtId)})`;
  }
  const listed = targets.slice(0, TARGETS_LISTED).map(label);
  const more = targets.length > TARGETS_LISTED ? ` and ${targets.length - TARGETS_LISTED} more` : '';
  return `move ${gears(moves.length)} of node ${source.name}${mix} to ${nodes} ${scope}: ${listed.join(', ')}${more}`;
}

function gears(count: number): string {
  return count === 1 ? '1 gear' : `${count} gears`;
}

function freeze<T extends DrainPlan | MovePlan>(plan: T): T {
  if ('moves' in plan) Object.freeze(plan.moves);
  if ('unplaceable' in plan) Object.freeze(plan.unplaceable);
  return Object.freeze(plan);
}
