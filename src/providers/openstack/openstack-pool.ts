import type { Logger } from 'pino';

import { ConfigError } from '../../core/errors.ts';
import type { Headroom } from '../provider.ts';
import { headroomFromLimits, type NovaFlavor, type NovaLimits } from './cloud-capacity.ts';
import { NOVA_MICROVERSION, type OpenStackClient } from './openstack-client.ts';

/** Where and how a pool's servers are booted: the OPENSTACK_* keys of broker.conf. */
export interface NovaServerSettings {
  /** Flavor name or id. */
  readonly flavor: string;
  /** Image name or id. */
  readonly image: string;
  /** Network names or ids; `none` boots without a port (microversion 2.37), `auto` lets Nova pick. */
  readonly networks: readonly string[] | 'none' | 'auto';
  readonly keyName: string | null;
  readonly securityGroups: readonly string[];
  /** A server group id (anti-affinity keeps hosts of a pool apart). */
  readonly serverGroup: string | null;
  readonly availabilityZone: string | null;
}

/** What both OpenStack providers are built with: one pool, its servers and its agents' settings. */
export interface OpenStackPoolOptions {
  readonly client: OpenStackClient;
  /** The pool's name (servers are tagged or stacked by it; only those are ever touched). */
  readonly pool: string;
  /** Server names begin with it; default `gt-<pool>-`. */
  readonly namePrefix?: string;
  readonly server: NovaServerSettings;
  /** What the node agents are started with (user-data). */
  readonly brokerUrl: string;
  readonly bootstrapToken: string;
  readonly gearProfile: string;
  readonly maxActiveGears: number;
  /** How long deleteNodes waits for the hosts to be gone. */
  readonly deleteTimeoutMs?: number;
  /** How often the provider looks while it waits. Default 1 s. */
  readonly pollMs?: number;
  readonly log?: Logger;
  /** close() closes the client too (the broker gives each pool a client of its own). */
  readonly ownsClient?: boolean;
}

/** A flavor by id or name; one the cloud does not have is an error naming OPENSTACK_FLAVOR. */
export async function findFlavor(client: OpenStackClient, nameOrId: string): Promise<NovaFlavor> {
  const flavors = (await client.request<{ flavors: NovaFlavor[] }>('compute', 'GET', '/flavors/detail', { microversion: NOVA_MICROVERSION, query: { is_public: 'None' } })).body.flavors;
  const flavor = flavors.find((each) => each.id === nameOrId) ?? flavors.find((each) => each.name === nameOrId);
  if (!flavor) throw new ConfigError(`OPENSTACK_FLAVOR: no flavor '${nameOrId}' in ${client.cloud.source} (has: ${flavors.map((each) => each.name).join(', ')})`, 'OPENSTACK_FLAVOR');
  return flavor;
}

/** How many more servers of `flavor` the project's Nova quota allows (`GET /limits`). */
export async function novaHeadroom(client: OpenStackClient, flavor: NovaFlavor): Promise<Headroom> {
  const limits = await client.request<{ limits: { absolute: NovaLimits } }>('compute', 'GET', '/limits', { microversion: NOVA_MICROVERSION });
  return headroomFromLimits(limits.body.limits.absolute, flavor);
}
