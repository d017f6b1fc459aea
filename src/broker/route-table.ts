import type { GearMove } from '../core/model.ts';
import type { RouteEntry } from '../store/store.ts';

export interface RouteView {
  readonly host: string;
  readonly app: string;
  readonly domain: string;
  readonly desiredState: string;
  readonly endpoints: string[];
}

/**
 * The route table routers follow: every app with the endpoints of its started gears, with gear
 * moves applied (docs/moves.md) — a move's target copy is added from `routed-both` on, and its
 * source copy dropped from `routed-target` on. A stopped app keeps its route, with no endpoint:
 * the router says it is stopped (503) rather than unknown (404).
 */
export function buildRouteTable(entries: readonly RouteEntry[], moves: readonly GearMove[], cloudDomain: string): RouteView[] {
  const movesByGear = new Map(moves.map((move) => [move.gearId, move]));
  const targetsByApp = new Map<string, string[]>();
  for (const move of moves) {
    if (move.routePhase !== 'source' && move.targetEndpoint !== null) {
      targetsByApp.set(move.appId, [...(targetsByApp.get(move.appId) ?? []), move.targetEndpoint]);
    }
  }
  return entries.map((entry) => {
    const endpoints =
      entry.desiredState !== 'started'
        ? []
        : [...entry.gears.filter((gear) => movesByGear.get(gear.gearId)?.routePhase !== 'target').map((gear) => gear.endpoint), ...(targetsByApp.get(entry.appId) ?? [])];
    return {
      host: `${entry.appName}-${entry.domainName}.${cloudDomain}`,
      app: entry.appName,
      domain: entry.domainName,
      desiredState: entry.desiredState,
      endpoints: [...new Set(endpoints)].sort(),
    };
  });
}
