import { InputError } from '../core/errors.ts';
import type { RouteEntry, RouteTable } from './route-table.ts';

/**
 * Checks a route table from the broker (`GET /api/v1/routes`) and returns it with hosts in lower
 * case. A malformed table is refused as a whole, so the router keeps the last good one rather
 * than serving half a table. An item without `host` gets `<app>-<domain>.<cloudDomain>`.
 */
export function parseRouteTable(body: unknown, cloudDomain: string): RouteTable {
  if (!isObject(body)) throw new InputError('route table must be a JSON object', 'body');
  const version = body.version;
  if (typeof version !== 'string' && typeof version !== 'number') throw new InputError('route table has no version', 'version');
  if (!Array.isArray(body.items)) throw new InputError('route table has no items array', 'items');
  const items: RouteEntry[] = body.items.map((item: unknown, at: number) => parseEntry(item, at, cloudDomain));
  return { version: String(version), items };
}

function parseEntry(item: unknown, at: number, cloudDomain: string): RouteEntry {
  const field = (name: string) => `items[${at}].${name}`;
  if (!isObject(item)) throw new InputError(`route ${at} must be an object`, `items[${at}]`);
  const { app, domain, desiredState, endpoints } = item;
  if (typeof app !== 'string' || app === '') throw new InputError(`route ${at} has no app`, field('app'));
  if (typeof domain !== 'string' || domain === '') throw new InputError(`route ${at} has no domain`, field('domain'));
  if (desiredState !== 'started' && desiredState !== 'stopped') throw new InputError(`route ${at} has desiredState '${String(desiredState)}', not started or stopped`, field('desiredState'));
  if (!Array.isArray(endpoints) || !endpoints.every((endpoint) => typeof endpoint === 'string')) throw new InputError(`route ${at} endpoints must be strings`, field('endpoints'));
  const host = item.host === undefined ? `${app}-${domain}.${cloudDomain}` : item.host;
  if (typeof host !== 'string' || host === '') throw new InputError(`route ${at} has an empty host`, field('host'));
  return { host: host.toLowerCase(), app, domain, desiredState, endpoints: endpoints as string[] };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
