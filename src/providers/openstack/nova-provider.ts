import { createHash } from 'node:crypto';

import { ExhaustedError, InputError } from '../../core/errors.ts';
import type { Headroom, IncreaseSizeRequest, Provider, ProviderNode, ProviderNodeStatus } from '../provider.ts';
import { classifyCloudFailure, type NovaFlavor } from './cloud-capacity.ts';
import { nodeUserData } from './node-user-data.ts';
import { NOVA_MICROVERSION, OpenStackHttpError } from './openstack-client.ts';
import { findFlavor, novaHeadroom, type OpenStackPoolOptions } from './openstack-pool.ts';

export type { NovaServerSettings } from './openstack-pool.ts';

/** Server names are `<prefix><hash of the scale event>-<n>`; deleteNodes waits 5 minutes by default. */
export type NovaProviderOptions = OpenStackPoolOptions;

interface NovaServer {
  id: string;
  name: string;
  status: string;
  created: string;
  metadata?: Record<string, string>;
  tags?: string[];
  fault?: { message?: string; details?: string };
  'OS-EXT-STS:task_state'?: string | null;
}

export const POOL_TAG_PREFIX = 'geartide-pool:';

/**
 * `<prefix><10 hex of the scale event's hash>-<n>`: the same for a repeated request of one scale
 * event (so it is idempotent), different across events, and short enough for a host name.
 */
export function hostName(prefix: string, scaleEventId: string, index: number): string {
  return `${prefix}${createHash('sha256').update(scaleEventId).digest('hex').slice(0, 10)}-${index}`;
}

/**
 * Node hosts as Nova servers, one per host, created and deleted by name. A pool's servers are
 * found by the tag `geartide-pool:<pool>`; each carries its scale event and district in its
 * metadata, which makes increaseSize idempotent per scale event (names are derived from it and
 * a server already there is not created again).
 */
export class NovaProvider implements Provider {
  readonly kind = 'openstack-nova';
  private readonly prefix: string;
  private readonly tag: string;
  private resolved: Promise<{ flavor: NovaFlavor; imageId: string; networks: unknown }> | null = null;

  constructor(private readonly options: NovaProviderOptions) {
    this.prefix = options.namePrefix ?? `gt-${options.pool}-`;
    this.tag = `${POOL_TAG_PREFIX}${options.pool}`;
    if (this.tag.length > 60) throw new InputError(`pool name '${options.pool}' is too long for a Nova tag (60 characters with '${POOL_TAG_PREFIX}')`, 'AUTOSCALE_POOLS');
  }

  async targetSize(): Promise<number> {
    return (await this.nodes()).filter((node) => node.status !== 'deleting').length;
  }

  async nodes(): Promise<ProviderNode[]> {
    return (await this.servers()).map((server) => this.toNode(server));
  }

  async increaseSize(request: IncreaseSizeRequest): Promise<ProviderNode[]> {
    if (!Number.isInteger(request.count) || request.count < 1) throw new InputError(`count must be a positive integer, not ${request.count}`, 'count');
    const { flavor, imageId, networks } = await this.resolve();
    const all = await this.servers();
    const existing = all.filter((server) => server.metadata?.geartide_scale_event === request.scaleEventId);
    const created: ProviderNode[] = existing.map((server) => this.toNode(server));
    for (let index = 1; index <= request.count; index++) {
      const name = hostName(this.prefix, request.scaleEventId, index);
      if (existing.some((server) => server.name === name)) continue;
      const clash = all.find((server) => server.name === name);
      if (clash) {
        // Names are the agents' identities in the broker: never two hosts with one name.
        throw new InputError(`server name ${name} for scale event ${request.scaleEventId} is already taken by server ${clash.id} of scale event ${clash.metadata?.geartide_scale_event ?? 'unknown'}`, 'scaleEventId');
      }
      const { server } = this.options;
      const body = {
        server: {
          name,
          imageRef: imageId,
          flavorRef: flavor.id,
          networks,
          tags: [this.tag],
          metadata: { geartide_pool: this.options.pool, geartide_scale_event: request.scaleEventId, geartide_district: request.district },
          user_data: Buffer.from(
            nodeUserData({
              brokerUrl: this.options.brokerUrl,
              bootstrapToken: this.options.bootstrapToken,
              nodeName: name,
              district: request.district,
              profile: this.options.gearProfile,
              maxActiveGears: this.options.maxActiveGears,
              scaleEventId: request.scaleEventId,
            }),
          ).toString('base64'),
          ...(server.keyName ? { key_name: server.keyName } : {}),
          ...(server.securityGroups.length > 0 ? { security_groups: server.securityGroups.map((group) => ({ name: group })) } : {}),
          ...(server.availabilityZone ? { availability_zone: server.availabilityZone } : {}),
        },
        ...(server.serverGroup ? { 'os:scheduler_hints': { group: server.serverGroup } } : {}),
      };
      try {
        const response = await this.options.client.request<{ server: { id: string } }>('compute', 'POST', '/servers', { body, microversion: NOVA_MICROVERSION, expect: [202] });
        this.options.log?.info({ pool: this.options.pool, server: name, id: response.body.server.id, scaleEventId: request.scaleEventId }, 'Nova server requested');
        created.push({ name, providerId: response.body.server.id, status: 'creating', scaleEventId: request.scaleEventId, district: request.district, createdAt: Date.now() });
      } catch (error) {
        const exhausted = error instanceof OpenStackHttpError ? classifyCloudFailure(error.status, error.cloudMessage) : null;
        // Hosts already created for this event stand: the scale-up is partly done, and the
        // planner sees the quota through headroom() on its next pass.
        if (created.length > 0) {
          this.options.log?.warn({ pool: this.options.pool, err: error, created: created.length, asked: request.count }, 'Nova refused part of a scale-up');
          return created;
        }
        if (exhausted) throw new ExhaustedError('cloud_exhausted', `Nova refused server ${name}: ${(error as OpenStackHttpError).cloudMessage}`, { profile: this.options.gearProfile, district: request.district });
        throw error;
      }
    }
    return created;
  }

  async deleteNodes(names: readonly string[]): Promise<void> {
    const targets = (await this.servers()).filter((server) => names.includes(server.name));
    for (const server of targets) {
      if (server.status === 'DELETED' || server.status === 'SOFT_DELETED') continue;
      try {
        await this.options.client.request('compute', 'DELETE', `/servers/${encodeURIComponent(server.id)}`, { microversion: NOVA_MICROVERSION, expect: [204, 404] });
        this.options.log?.info({ pool: this.options.pool, server: server.name, id: server.id }, 'Nova server deleted');
      } catch (error) {
        // A server Nova is already deleting answers 409 on some clouds; wait for it like the rest.
        if (!(error instanceof OpenStackHttpError && error.status === 409)) throw error;
      }
    }
    const deadline = Date.now() + (this.options.deleteTimeoutMs ?? 300_000);
    for (const server of targets) {
      while (!(await this.gone(server.id))) {
        if (Date.now() > deadline) {
          throw new OpenStackHttpError(0, 'compute', 'DELETE', `/servers/${server.id}`, `server ${server.name} (${server.id}) was still not gone after ${Math.round((this.options.deleteTimeoutMs ?? 300_000) / 1000)} s`);
        }
        await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 1000));
      }
    }
  }

  async headroom(): Promise<Headroom> {
    return novaHeadroom(this.options.client, (await this.resolve()).flavor);
  }

  async close(): Promise<void> {
    if (this.options.ownsClient) await this.options.client.close();
  }

  private async gone(id: string): Promise<boolean> {
    const response = await this.options.client.request<{ server: NovaServer }>('compute', 'GET', `/servers/${encodeURIComponent(id)}`, { microversion: NOVA_MICROVERSION, expect: [200, 404] });
    if (response.status === 404) return true;
    if (response.body.server.status === 'DELETED') return true;
    if (response.body.server.status === 'ERROR' && response.body.server['OS-EXT-STS:task_state'] == null) {
      // A delete that put the server in ERROR will not finish by itself.
      throw new OpenStackHttpError(500, 'compute', 'DELETE', `/servers/${id}`, `server ${response.body.server.name} went to ERROR while being deleted: ${response.body.server.fault?.message ?? 'no fault given'}`);
    }
    return false;
  }

  /** The pool's servers (all pages). */
  private async servers(): Promise<NovaServer[]> {
    const all: NovaServer[] = [];
    let marker: string | undefined;
    for (;;) {
      const response = await this.options.client.request<{ servers: NovaServer[] }>('compute', 'GET', '/servers/detail', {
        microversion: NOVA_MICROVERSION,
        query: { tags: this.tag, limit: 200, marker },
      });
      all.push(...response.body.servers);
      if (response.body.servers.length < 200) return all;
      marker = response.body.servers.at(-1)!.id;
    }
  }

  private toNode(server: NovaServer): ProviderNode {
    const taskState = server['OS-EXT-STS:task_state'];
    let status: ProviderNodeStatus;
    if (taskState === 'deleting' || server.status === 'DELETED' || server.status === 'SOFT_DELETED') status = 'deleting';
    else if (server.status === 'ERROR') status = 'failed';
    else if (server.status === 'BUILD') status = 'creating';
    else status = 'running';
    const error = status === 'failed' ? (server.fault?.message ?? 'the server is in ERROR (no fault given)') : undefined;
    return {
      name: server.name,
      providerId: server.id,
      status,
      scaleEventId: server.metadata?.geartide_scale_event ?? null,
      district: server.metadata?.geartide_district ?? null,
      createdAt: Date.parse(server.created),
      ...(error !== undefined ? { error, exhausted: classifyCloudFailure(0, error) } : {}),
    };
  }

  /** Flavor, image and networks by name or id, once (a wrong one is a config error naming the key). */
  private resolve(): Promise<{ flavor: NovaFlavor; imageId: string; networks: unknown }> {
    this.resolved ??= (async () => {
      const { client, server } = this.options;
      const flavor = await findFlavor(client, server.flavor);
      const imageId = await this.resolveImage(server.image);
      const networks = server.networks === 'none' || server.networks === 'auto' ? server.networks : await Promise.all(server.networks.map(async (network) => ({ uuid: await this.resolveNetwork(network) })));
      return { flavor, imageId, networks };
    })().catch((error: unknown) => {
      this.resolved = null;
      throw error;
    });
    return this.resolved;
  }

  private async resolveImage(image: string): Promise<string> {
    const { client } = this.options;
    const byId = await client.request<{ id: string }>('image', 'GET', `/v2/images/${encodeURIComponent(image)}`, { expect: [200, 404] });
    if (byId.status === 200) return byId.body.id;
    const byName = (await client.request<{ images: { id: string }[] }>('image', 'GET', '/v2/images', { query: { name: image } })).body.images;
    if (byName.length === 0) throw new InputError(`OPENSTACK_IMAGE: no image '${image}' in ${client.cloud.source}`, 'OPENSTACK_IMAGE');
    if (byName.length > 1) throw new InputError(`OPENSTACK_IMAGE: ${byName.length} images are named '${image}'; give its id`, 'OPENSTACK_IMAGE');
    return byName[0]!.id;
  }

  private async resolveNetwork(network: string): Promise<string> {
    const { client } = this.options;
    const byId = await client.request<{ network: { id: string } }>('network', 'GET', `/v2.0/networks/${encodeURIComponent(network)}`, { expect: [200, 404] });
    if (byId.status === 200) return byId.body.network.id;
    const byName = (await client.request<{ networks: { id: string }[] }>('network', 'GET', '/v2.0/networks', { query: { name: network } })).body.networks;
    if (byName.length !== 1) throw new InputError(`OPENSTACK_NETWORKS: ${byName.length === 0 ? 'no' : byName.length} network${byName.length === 1 ? '' : 's'} named '${network}' in ${client.cloud.source}${byName.length > 1 ? '; give its id' : ''}`, 'OPENSTACK_NETWORKS');
    return byName[0]!.id;
  }
}
