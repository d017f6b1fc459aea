/**
 * Why a gear cannot be placed, as one sentence an operator can act on:
 *
 *   no node of profile 'small' can take a gear: district 'east' has no UIDs left; node 'n1' is
 *   full (10/10 active gears); 1 node is deactivated ('n3')
 *
 * This is the rare failure path of `placeGear`, so it may scan every node of the profile.
 * Each node is counted once, under the first reason that rules it out, in the order below:
 * a deactivated node that is also full is reported as deactivated, because activating it alone
 * would not help, and "deactivated" is what the operator did on purpose.
 */
import { ExhaustedError } from './errors.ts';
import { NODE_STATES } from './model.ts';
import type { NodeState } from './model.ts';
import type { PlacementDistrict, PlacementNode, PlacementRequest } from './placement.ts';

/** How many node names a reason lists before it says "and N more". */
const NAMES_LISTED = 3;

export function explainNoCapacity(input: {
  request: PlacementRequest;
  /** Every node of the requested profile, with its current counts. */
  nodes: readonly PlacementNode[];
  districts: ReadonlyMap<string, PlacementDistrict>;
}): ExhaustedError {
  const { request, districts } = input;
  const profile = request.gearProfile;

  if (request.districtId !== undefined) {
    const district = districts.get(request.districtId);
    if (district === undefined) {
      return fail(`district '${request.districtId}' does not exist`, profile, request.districtId, request.districtId);
    }
    if (district.gearProfile !== profile) {
      return fail(`district '${district.name}' serves profile '${district.gearProfile}', not '${profile}'`, profile, district.name, district.name);
    }
    const members = input.nodes.filter((node) => node.districtId === district.id);
    if (members.length === 0) return fail(`district '${district.name}' has no node hosts`, profile, district.name, district.name);
    return fail(explainNodes(members, request, districts), profile, district.name, district.name);
  }

  if (input.nodes.length === 0) {
    const hasDistrict = [...districts.values()].some((district) => district.gearProfile === profile);
    const why = hasDistrict
      ? `there is no node host of profile '${profile}'`
      : `there is no node host of profile '${profile}' and no district of that profile`;
    return fail(why, profile);
  }
  return fail(explainNodes(input.nodes, request, districts), profile);
}

function fail(why: string, profile: string, districtName?: string, contextDistrict?: string): ExhaustedError {
  const scope = districtName === undefined ? `profile '${profile}'` : `profile '${profile}' in district '${districtName}'`;
  return new ExhaustedError('no_capacity', `no node of ${scope} can take a gear: ${why}`, {
    profile,
    ...(contextDistrict === undefined ? {} : { district: contextDistrict }),
  });
}

/** The reasons, most actionable first, joined by "; ". */
function explainNodes(nodes: readonly PlacementNode[], request: PlacementRequest, districts: ReadonlyMap<string, PlacementDistrict>): string {
  const byState = new Map<NodeState, PlacementNode[]>();
  const withoutDistrict: PlacementNode[] = [];
  const inUnknownDistrict: PlacementNode[] = [];
  const inOtherProfileDistrict: PlacementNode[] = [];
  const districtsOutOfUids = new Map<string, PlacementDistrict>();
  const full: PlacementNode[] = [];
  const excluded: PlacementNode[] = [];

  for (const node of nodes) {
    const district = node.districtId === null ? undefined : districts.get(node.districtId);
    if (node.state !== 'active') {
      const group = byState.get(node.state) ?? [];
      group.push(node);
      byState.set(node.state, group);
    } else if (node.districtId === null) {
      withoutDistrict.push(node);
    } else if (district === undefined) {
      inUnknownDistrict.push(node);
    } else if (district.gearProfile !== node.gearProfile) {
      inOtherProfileDistrict.push(node);
    } else if (district.availableUids <= 0) {
      districtsOutOfUids.set(district.id, district);
    } else if (node.activeGears >= node.maxActiveGears && request.active !== false) {
      // A gear that is not active needs no slot: a full node is no reason it cannot be placed.
      full.push(node);
    } else if (request.excludeNodeIds?.has(node.id)) {
      excluded.push(node);
    }
    // Otherwise the node is a candidate; callers only get here when there is none.
  }

  const reasons: string[] = [];
  if (districtsOutOfUids.size > 0) {
    const names = [...districtsOutOfUids.values()].map((district) => `'${district.name}'`);
    reasons.push(names.length === 1 ? `district ${names[0]} has no UIDs left` : `districts ${listed(names)} have no UIDs left`);
  }
  if (full.length === 1) {
    const node = full[0]!;
    reasons.push(`node '${node.name}' is full (${node.activeGears}/${node.maxActiveGears} active gears)`);
  } else if (full.length > 1) {
    const names = full.map((node) => `'${node.name}' ${node.activeGears}/${node.maxActiveGears}`);
    reasons.push(`${full.length} nodes are full (${listed(names)} active gears)`);
  }
  for (const state of NODE_STATES) {
    const group = byState.get(state);
    if (group !== undefined) reasons.push(count(group, `is ${state}`, `are ${state}`));
  }
  if (withoutDistrict.length > 0) reasons.push(count(withoutDistrict, 'is in no district', 'are in no district'));
  for (const node of inUnknownDistrict) reasons.push(`node '${node.name}' names district '${node.districtId}', which does not exist`);
  for (const node of inOtherProfileDistrict) {
    const district = districts.get(node.districtId!)!;
    reasons.push(`node '${node.name}' is in district '${district.name}' of profile '${district.gearProfile}'`);
  }
  if (excluded.length > 0) reasons.push(count(excluded, 'is excluded from this request', 'are excluded from this request'));
  // Unreachable when the snapshot and this function agree on what a candidate is; say so plainly.
  if (reasons.length === 0) reasons.push('no candidate node was found');
  return reasons.join('; ');
}

/** "1 node is lost ('n1')", "2 nodes are lost ('n1', 'n2')". */
function count(nodes: readonly PlacementNode[], singular: string, plural: string): string {
  if (nodes.length === 1) return `1 node ${singular} ('${nodes[0]!.name}')`;
  return `${nodes.length} nodes ${plural} (${listed(nodes.map((node) => `'${node.name}'`))})`;
}

function listed(items: readonly string[]): string {
  if (items.length <= NAMES_LISTED) return items.join(', ');
  return `${items.slice(0, NAMES_LISTED).join(', ')} and ${items.length - NAMES_LISTED} more`;
}
