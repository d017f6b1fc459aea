import { parseEndpoint, type EndpointAddress } from './endpoint-address.ts';
import type { RouteEntry, RouteTable } from './route-table.ts';

/** A route as the proxy uses it: endpoints parsed once per table, and its round-robin cursor. */
export interface IndexedRoute {
  readonly entry: RouteEntry;
  /** `<app>-<domain>`, the name messages use. */
  readonly name: string;
  readonly targets: readonly EndpointAddress[];
  /** The endpoint strings, in the order of `targets` (what `nextLiveEndpoint` walks). */
  readonly endpoints: readonly string[];
  cursor: number;
}

export type RouteIndex = ReadonlyMap<string, IndexedRoute>;

/**
 * Indexes a table by host. A route whose endpoints did not change keeps its cursor, so a table
 * update (another app scaled) does not send every app's next request to its first gear.
 */
export function indexRoutes(table: RouteTable, previous: RouteIndex | undefined): RouteIndex {
  const index = new Map<string, IndexedRoute>();
  for (const entry of table.items) {
    const targets = entry.endpoints.map(parseEndpoint).filter((target): target is EndpointAddress => target !== undefined);
    const endpoints = targets.map((target) => target.endpoint);
    const before = previous?.get(entry.host);
    const sameEndpoints = before !== undefined && before.endpoints.length === endpoints.length && before.endpoints.every((endpoint, at) => endpoint === endpoints[at]);
    index.set(entry.host, { entry, name: `${entry.app}-${entry.domain}`, targets, endpoints, cursor: sameEndpoints ? before.cursor : 0 });
  }
  return index;
}

/** Every endpoint the index lists, for forgetting the health of gears that went away. */
export function listedEndpoints(index: RouteIndex): Set<string> {
  const listed = new Set<string>();
  for (const route of index.values()) for (const endpoint of route.endpoints) listed.add(endpoint);
  return listed;
}
