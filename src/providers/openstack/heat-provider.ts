import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { parse as parseYaml } from 'yaml';

import { ConfigError, ExhaustedError, GeartideError, InputError } from '../../core/errors.ts';
import type { Headroom, IncreaseSizeRequest, Provider, ProviderNode, ProviderNodeStatus } from '../provider.ts';
import { classifyCloudFailure, type NovaFlavor } from './cloud-capacity.ts';
import { findFlavor, novaHeadroom, type OpenStackPoolOptions } from './openstack-pool.ts';
import { nodeUserData } from './node-user-data.ts';
import { NOVA_MICROVERSION, OpenStackHttpError } from './openstack-client.ts';

/** The template geartide ships: a ResourceGroup of Nova servers (docs/openstack-heat.md). */
export const SHIPPED_NODE_POOL_TEMPLATE = fileURLToPath(new URL('./templates/node-pool.yaml', import.meta.url));

/** Parameters every node-pool template must declare: the provider drives the stack through them. */
export const REQUIRED_TEMPLATE_PARAMETERS = ['count', 'name_prefix', 'node_user_data', 'scale_event_id', 'district', 'scale_events', 'removal_policies'] as const;

/** The output naming the group's removed members (ResourceGroup's `removed_rsrc_list`). */
export const REMOVED_MEMBERS_OUTPUT = 'removed_members';

/** Placeholders in `node_user_data` that the template fills from `scale_event_id` and `district`. */
export const SCALE_EVENT_PLACEHOLDER = '@@GEARTIDE_SCALE_EVENT@@';
export const DISTRICT_PLACEHOLDER = '@@GEARTIDE_DISTRICT@@';

/**
 * The pool's options (server names are `<prefix><member index>`; `server` and the prefix are fixed
 * when the stack is created: a later change would make Heat resize, rebuild or replace every host;
 * deleteNodes waits 10 minutes by default for the update and the servers to be gone), plus Heat's own.
 */
export interface HeatProviderOptions extends OpenStackPoolOptions {
  /** An operator's own template (OPENSTACK_HEAT_TEMPLATE); default the shipped node-pool.yaml. */
  readonly template?: string;
  /** Default `geartide-<pool>`. */
  readonly stackName?: string;
  /** How long to wait for Heat to finish an update it is still working on before giving up (transient). Default 2 minutes. */
  readonly busyTimeoutMs?: number;
  /** How long increaseSize waits for Nova to have accepted each new member's server. Default 1 minute. */
  readonly acceptTimeoutMs?: number;
  /** Heat's `timeout_mins` for the stack's create and updates; default Heat's own. */
  readonly stackTimeoutMinutes?: number;
}

interface HeatStack {
  id: string;
  stack_name: string;
  stack_status: string;
  stack_status_reason: string | null;
  parameters: Record<string, string>;
  creation_time: string;
  updated_time: string | null;
}

interface HeatResource {
  resource_name: string;
  resource_type: string;
  physical_resource_id: string;
  resource_status: string;
  resource_status_reason: string;
  parent_resource?: string;
  creation_time: string;
}

interface NovaServer {
  id: string;
  name: string;
  status: string;
  created: string;
  fault?: { message?: string };
  'OS-EXT-STS:task_state'?: string | null;
}

/** Which members each scale event created: the stack's `scale_events` parameter. */
interface ScaleEventRecord {
  readonly event: string;
  readonly district: string;
  readonly members: readonly string[];
}

interface Member {
  /** The member's resource name in the group: its index. */
  readonly index: string;
  readonly resource: HeatResource;
  readonly node: ProviderNode;
}

interface NodePoolTemplate {
  readonly path: string;
  readonly text: string;
  readonly parameters: ReadonlySet<string>;
}

/** A stack create or update that Heat ended `*_FAILED` for a reason other than quota or capacity. */
export class HeatStackError extends GeartideError {
  constructor(
    message: string,
    readonly stackName: string,
    readonly stackStatus: string,
    readonly reason: string,
  ) {
    super('cloud_stack_failed', 'transient', message, { stack: stackName, stackStatus });
    this.name = 'HeatStackError';
  }
}

/**
 * Node hosts as the members of one Heat stack per pool: an `OS::Heat::ResourceGroup` of
 * `OS::Nova::Server` named `<prefix><index>`. Growing raises the group's `count`; shrinking lowers
 * it and names the members to remove in `removal_policies`, so Heat deletes exactly those (and
 * never reuses their names) instead of the newest.
 *
 * A ResourceGroup's members share one definition, so a new scale event changes it for all of them;
 * `user_data_update_policy: IGNORE` keeps the servers already there, which keep the user-data
 * (and scale event) they were booted with. Which members each scale event created is kept in the
 * stack itself (`scale_events`), and the latest one in `scale_event_id`, which makes increaseSize
 * idempotent per scale event without any state of our own.
 *
 *   absent --increaseSize--> CREATE_IN_PROGRESS --> CREATE_COMPLETE | CREATE_FAILED
 *   *_COMPLETE | *_FAILED --increaseSize / deleteNodes (PATCH)--> UPDATE_IN_PROGRESS --> UPDATE_COMPLETE | UPDATE_FAILED
 *   *_IN_PROGRESS: no update is sent (wait, bounded, then a transient error)
 */
export class HeatProvider implements Provider {
  readonly kind = 'openstack-heat';
  private readonly stackName: string;
  private readonly prefix: string;
  private stackId: string | null = null;
  private template: NodePoolTemplate | null = null;
  private readonly flavors = new Map<string, NovaFlavor>();
  /** Updates of this provider's stack, one at a time. */
  private tail: Promise<unknown> = Promise.resolve();
  private warnedDrift = false;

  constructor(private readonly options: HeatProviderOptions) {
    this.stackName = options.stackName ?? `geartide-${options.pool}`;
    this.prefix = options.namePrefix ?? `gt-${options.pool}-`;
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,254}$/.test(this.stackName)) {
      throw new InputError(`'${this.stackName}' is not a valid Heat stack name (a letter, then letters, digits, '_', '-' or '.')`, 'AUTOSCALE_POOLS');
    }
  }

  async targetSize(): Promise<number> {
    // A failed member is no host: it was never created, or its server is in ERROR.
    return (await this.nodes()).filter((node) => node.status === 'creating' || node.status === 'running').length;
  }

  async nodes(): Promise<ProviderNode[]> {
    const stack = await this.findStack();
    if (stack === null) return [];
    return (await this.members(stack)).map((member) => member.node);
  }

  async increaseSize(request: IncreaseSizeRequest): Promise<ProviderNode[]> {
    if (!Number.isInteger(request.count) || request.count < 1) throw new InputError(`count must be a positive integer, not ${request.count}`, 'count');
    return this.exclusive(async () => {
      let stack = await this.findStack();
      // IMPORTANT: the scale event is compared before waiting or updating, because a repeat (a
      // broker restarted, an answer lost on the way) must return the first call's hosts and
      // create none, even while Heat is still creating them.
      if (stack !== null && stack.parameters.scale_event_id === request.scaleEventId) return this.nodesOfEvent(stack, request.scaleEventId);
      if (stack !== null) {
        stack = await this.settled(stack);
        if (stack !== null && stack.parameters.scale_event_id === request.scaleEventId) return this.nodesOfEvent(stack, request.scaleEventId);
      }
      if (stack === null) return this.createStack(request);
      if (stack.stack_status.startsWith('DELETE_')) {
        throw new HeatStackError(`stack ${this.stackName} is ${stack.stack_status}: ${stack.stack_status_reason ?? 'no reason given'}; delete it, or fix it, before the pool can grow`, this.stackName, stack.stack_status, stack.stack_status_reason ?? '');
      }
      return this.growStack(stack, request);
    });
  }

  async deleteNodes(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    await this.exclusive(async () => {
      let stack = await this.findStack();
      if (stack === null) return;
      stack = await this.settled(stack);
      if (stack === null) return;
      const members = await this.members(stack);
      const targets = members.filter((member) => names.includes(member.node.name));
      // A name the stack does not have is already gone.
      if (targets.length === 0) return;
      const removal = targets.map((member) => member.index);
      const parameters = { count: members.length - targets.length, removal_policies: [{ resource_list: removal }] };
      await this.patch(stack, parameters);
      this.options.log?.info({ pool: this.options.pool, stack: this.stackName, remove: targets.map((member) => `${member.node.name} (member ${member.index}, ${member.node.providerId})`), count: parameters.count }, 'Heat stack shrinking');

      const timeoutMs = this.options.deleteTimeoutMs ?? 600_000;
      const deadline = Date.now() + timeoutMs;
      // The PATCH answered once Heat stored the stack as UPDATE_IN_PROGRESS: look again.
      const done = await this.settled(await this.findStack(), deadline);
      const left = done === null ? [] : (await this.members(done)).filter((member) => removal.includes(member.index));
      if (left.length > 0) {
        const reason = done?.stack_status_reason ?? 'no reason given';
        const what = left.map((member) => member.node.name).join(', ');
        if (done?.stack_status.endsWith('_FAILED')) throw new HeatStackError(`Heat did not remove ${what} from stack ${this.stackName} (${done.stack_status}): ${reason}`, this.stackName, done.stack_status, reason);
        throw new HeatStackError(`stack ${this.stackName} is ${done?.stack_status} but still has ${what}`, this.stackName, done?.stack_status ?? 'unknown', reason);
      }
      if (done?.stack_status.endsWith('_FAILED')) {
        // The named members are gone; Heat also retried a member that had failed before, and
        // that failed again. nodes() shows it as failed; it is not what was asked here.
        this.options.log?.warn({ pool: this.options.pool, stack: this.stackName, status: done.stack_status, reason: done.stack_status_reason }, 'Heat removed the named members, but the stack update failed on another member');
      }
      for (const member of targets) {
        if (member.node.providerId === '') continue;
        while (!(await this.serverGone(member.node.providerId))) {
          if (Date.now() > deadline) throw new OpenStackHttpError(0, 'compute', 'DELETE', `/servers/${member.node.providerId}`, `server ${member.node.name} (${member.node.providerId}) was still not gone ${Math.round(timeoutMs / 1000)} s after its member left stack ${this.stackName}`);
          await sleep(this.pollMs());
        }
      }
    });
  }

  async headroom(): Promise<Headroom> {
    // The flavor the stack boots, if there is a stack: that is what a scale-up would use.
    const stack = await this.findStack();
    return novaHeadroom(this.options.client, await this.flavor(stack?.parameters.flavor ?? this.options.server.flavor));
  }

  async close(): Promise<void> {
    if (this.options.ownsClient) await this.options.client.close();
  }

  // --- growing ------------------------------------------------------------------------------

  private async createStack(request: IncreaseSizeRequest): Promise<ProviderNode[]> {
    const template = this.loadTemplate();
    const names = Array.from({ length: request.count }, (_, index) => String(index));
    const { server } = this.options;
    const networks = server.networks === 'none' || server.networks === 'auto' ? [{ allocate_network: server.networks }] : server.networks.map((network) => ({ network }));
    const parameters = this.declared(template, {
      count: request.count,
      name_prefix: this.prefix,
      pool: this.options.pool,
      flavor: server.flavor,
      image: server.image,
      networks,
      ...(server.keyName ? { key_name: server.keyName } : {}),
      ...(server.securityGroups.length > 0 ? { security_groups: server.securityGroups.join(',') } : {}),
      ...(server.availabilityZone ? { availability_zone: server.availabilityZone } : {}),
      ...(server.serverGroup ? { server_group: server.serverGroup } : {}),
      node_user_data: this.userData(this.prefix),
      scale_event_id: request.scaleEventId,
      district: request.district,
      scale_events: [{ event: request.scaleEventId, district: request.district, members: names }] satisfies ScaleEventRecord[],
    });
    try {
      const response = await this.options.client.request<{ stack: { id: string } }>('orchestration', 'POST', '/stacks', {
        body: {
          stack_name: this.stackName,
          template: template.text,
          parameters,
          // Failed members stay, so nodes() can say why; the next update replaces or removes them.
          disable_rollback: true,
          tags: `geartide,geartide-pool=${this.options.pool}`,
          ...(this.options.stackTimeoutMinutes ? { timeout_mins: this.options.stackTimeoutMinutes } : {}),
        },
        expect: [201],
      });
      this.stackId = response.body.stack.id;
    } catch (error) {
      if (error instanceof OpenStackHttpError && error.status === 409) {
        // Created meanwhile (another broker, an earlier attempt whose answer was lost): start over.
        const stack = await this.findStack();
        if (stack !== null && stack.parameters.scale_event_id === request.scaleEventId) return this.nodesOfEvent(stack, request.scaleEventId);
        throw new GeartideError('cloud_busy', 'transient', `stack ${this.stackName} was created by someone else meanwhile; retry`, { stack: this.stackName });
      }
      throw error;
    }
    this.options.log?.info({ pool: this.options.pool, stack: this.stackName, id: this.stackId, template: template.path, count: request.count, scaleEventId: request.scaleEventId }, 'Heat stack created');
    return this.accepted(names, request);
  }

  private async growStack(stack: HeatStack, request: IncreaseSizeRequest): Promise<ProviderNode[]> {
    this.warnOfDrift(stack);
    const members = await this.members(stack);
    // Members that failed (never created, or a server in ERROR) are removed in the same update:
    // Heat would otherwise create them again from the group's new definition, as hosts of this
    // scale event while the stack says they belong to the one they failed in.
    const failed = members.filter((member) => member.node.status === 'failed');
    const live = members.filter((member) => member.node.status !== 'failed');
    const skipped = new Set([...(await this.removedMembers(stack)), ...failed.map((member) => member.index)]);
    const count = live.length + request.count;
    const names = firstNames(count, skipped);
    const liveIndexes = new Set(live.map((member) => member.index));
    // IMPORTANT: Heat keeps the first `count` member names that were never removed; if those do
    // not include every live member, this update would delete a running host. Refuse instead.
    const dropped = live.filter((member) => !names.includes(member.index));
    if (dropped.length > 0) {
      throw new GeartideError('cloud_stack_inconsistent', 'internal', `stack ${this.stackName}: growing to ${count} members would drop ${dropped.map((member) => member.node.name).join(', ')} (members ${members.map((member) => member.index).join(', ')}, removed ${[...skipped].join(', ') || 'none'})`, { stack: this.stackName });
    }
    const added = names.filter((name) => !liveIndexes.has(name));
    const history = parseScaleEvents(stack.parameters.scale_events)
      .map((record) => ({ ...record, members: record.members.filter((index) => liveIndexes.has(index)) }))
      .filter((record) => record.members.length > 0);
    history.push({ event: request.scaleEventId, district: request.district, members: added });
    const parameters = {
      count,
      scale_event_id: request.scaleEventId,
      district: request.district,
      scale_events: history,
      node_user_data: this.userData(stack.parameters.name_prefix ?? this.prefix),
      ...(failed.length > 0 ? { removal_policies: [{ resource_list: failed.map((member) => member.index) }] } : {}),
    };
    await this.patch(stack, parameters);
    this.options.log?.info(
      { pool: this.options.pool, stack: this.stackName, count, added, removedFailed: failed.map((member) => member.node.name), scaleEventId: request.scaleEventId },
      'Heat stack growing',
    );
    return this.accepted(added, request);
  }

  /**
   * Waits until Nova has accepted every new member's server (Heat gave it a server id) or Heat
   * ended the update; bounded by acceptTimeoutMs. If the update failed and no new member got a
   * server, the scale-up failed as a whole: ExhaustedError when Heat's reason is quota or
   * capacity. Members that failed beside others that were created are returned as they are:
   * nodes() reports them failed, with Heat's reason.
   */
  private async accepted(added: readonly string[], request: IncreaseSizeRequest): Promise<ProviderNode[]> {
    const deadline = Date.now() + (this.options.acceptTimeoutMs ?? 60_000);
    let stack: HeatStack | null = null;
    let mine: Member[] = [];
    for (;;) {
      stack = await this.findStack();
      if (stack === null) throw new HeatStackError(`stack ${this.stackName} disappeared while it was growing`, this.stackName, 'DELETE_COMPLETE', '');
      mine = (await this.members(stack)).filter((member) => added.includes(member.index));
      const inProgress = stack.stack_status.endsWith('_IN_PROGRESS');
      const allHaveServers = mine.length === added.length && mine.every((member) => member.resource.physical_resource_id !== '' && member.node.status !== 'failed');
      if (!inProgress || allHaveServers || Date.now() > deadline) break;
      await sleep(this.pollMs());
    }
    if (stack.stack_status.endsWith('_FAILED') && mine.every((member) => member.node.status === 'failed')) {
      const reason = stack.stack_status_reason ?? 'no reason given';
      if (classifyCloudFailure(0, reason)) {
        throw new ExhaustedError('cloud_exhausted', `Heat could not grow stack ${this.stackName} by ${request.count}: ${reason}`, { profile: this.options.gearProfile, district: request.district });
      }
      throw new HeatStackError(`Heat could not grow stack ${this.stackName} by ${request.count} (${stack.stack_status}): ${reason}`, this.stackName, stack.stack_status, reason);
    }
    const prefix = stack.parameters.name_prefix ?? this.prefix;
    return added.map(
      (index) =>
        mine.find((member) => member.index === index)?.node ?? {
          name: `${prefix}${index}`,
          providerId: '',
          status: 'creating',
          scaleEventId: request.scaleEventId,
          district: request.district,
          createdAt: Date.now(),
        },
    );
  }

  private async nodesOfEvent(stack: HeatStack, scaleEventId: string): Promise<ProviderNode[]> {
    return (await this.members(stack)).filter((member) => member.node.scaleEventId === scaleEventId).map((member) => member.node);
  }

  // --- the stack ----------------------------------------------------------------------------

  /** The pool's stack, or null when there is none (never created, or deleted). */
  private async findStack(): Promise<HeatStack | null> {
    const { client } = this.options;
    if (this.stackId === null) {
      const listed = (await client.request<{ stacks: { id: string; stack_name: string }[] }>('orchestration', 'GET', '/stacks', { query: { name: this.stackName } })).body.stacks;
      const found = listed.find((each) => each.stack_name === this.stackName);
      if (found === undefined) return null;
      this.stackId = found.id;
    }
    const response = await client.request<{ stack: HeatStack }>('orchestration', 'GET', `/stacks/${encodeURIComponent(this.stackName)}/${this.stackId}`, {
      query: { resolve_outputs: false },
      expect: [200, 404],
    });
    if (response.status === 404 || response.body.stack.stack_status === 'DELETE_COMPLETE') {
      // Deleted (by an operator): a new stack of that name is another one.
      this.stackId = null;
      return response.status === 404 ? this.findStack() : null;
    }
    return response.body.stack;
  }

  /**
   * The stack once Heat is not working on it (null if it went away meanwhile).
   * IMPORTANT: no update is sent while a stack is *_IN_PROGRESS, because Heat's convergence
   * engine accepts it and abandons the update under way halfway.
   */
  private async settled(stack: HeatStack | null, deadline = Date.now() + (this.options.busyTimeoutMs ?? 120_000)): Promise<HeatStack | null> {
    let current: HeatStack | null = stack;
    while (current !== null && current.stack_status.endsWith('_IN_PROGRESS')) {
      if (Date.now() > deadline) {
        throw new GeartideError('cloud_busy', 'transient', `stack ${this.stackName} is still ${current.stack_status} (since ${current.updated_time ?? current.creation_time}); geartide does not update a stack Heat is still working on, retry later`, {
          stack: this.stackName,
          stackStatus: current.stack_status,
        });
      }
      await sleep(this.pollMs());
      current = await this.findStack();
    }
    return current;
  }

  /** PATCH: the parameters not given keep their values (the template too). */
  private async patch(stack: HeatStack, parameters: Record<string, unknown>): Promise<void> {
    await this.options.client.request('orchestration', 'PATCH', `/stacks/${encodeURIComponent(this.stackName)}/${stack.id}`, {
      body: { parameters, ...(this.options.stackTimeoutMinutes ? { timeout_mins: this.options.stackTimeoutMinutes } : {}) },
      expect: [202],
    });
  }

  private async removedMembers(stack: HeatStack): Promise<string[]> {
    const response = await this.options.client.request<{ output: { output_value?: unknown; output_error?: string } }>(
      'orchestration',
      'GET',
      `/stacks/${encodeURIComponent(this.stackName)}/${stack.id}/outputs/${REMOVED_MEMBERS_OUTPUT}`,
      { expect: [200, 404] },
    );
    if (response.status === 404) throw new ConfigError(`stack ${this.stackName} has no output '${REMOVED_MEMBERS_OUTPUT}' (its template must have it: docs/openstack-heat.md)`, 'OPENSTACK_HEAT_TEMPLATE');
    const value = response.body.output.output_value;
    return Array.isArray(value) ? value.map(String) : [];
  }

  /** The group's members, each mapped to its Nova server by server id. */
  private async members(stack: HeatStack): Promise<Member[]> {
    const { client } = this.options;
    const resources = (
      await client.request<{ resources: HeatResource[] }>('orchestration', 'GET', `/stacks/${encodeURIComponent(this.stackName)}/${stack.id}/resources`, { query: { nested_depth: 1 } })
    ).body.resources;
    const group = resources.find((resource) => resource.resource_type === 'OS::Heat::ResourceGroup' && !resource.parent_resource);
    if (group === undefined) return [];
    const memberResources = resources.filter((resource) => resource.parent_resource === group.resource_name);
    if (memberResources.length === 0) return [];
    const prefix = stack.parameters.name_prefix ?? this.prefix;
    const servers = new Map((await this.servers(prefix)).map((server) => [server.id, server]));
    for (const resource of memberResources) {
      const id = resource.physical_resource_id;
      if (id !== '' && !servers.has(id)) {
        // Renamed, or gone: ask for it by id.
        const response = await client.request<{ server: NovaServer }>('compute', 'GET', `/servers/${encodeURIComponent(id)}`, { microversion: NOVA_MICROVERSION, expect: [200, 404] });
        if (response.status === 200) servers.set(id, response.body.server);
      }
    }
    const history = parseScaleEvents(stack.parameters.scale_events);
    const stackInProgress = stack.stack_status.endsWith('_IN_PROGRESS');
    return memberResources
      .map((resource) => {
        const record = history.find((each) => each.members.includes(resource.resource_name));
        const server = resource.physical_resource_id === '' ? undefined : servers.get(resource.physical_resource_id);
        const { status, error } = memberStatus(resource, server, stackInProgress, stack.stack_status_reason);
        const node: ProviderNode = {
          name: server?.name ?? `${prefix}${resource.resource_name}`,
          providerId: resource.physical_resource_id,
          status,
          scaleEventId: record?.event ?? null,
          district: record?.district ?? null,
          createdAt: server ? Date.parse(server.created) : parseHeatTime(resource.creation_time),
          ...(error !== undefined ? { error, exhausted: classifyCloudFailure(0, error) } : {}),
        };
        return { index: resource.resource_name, resource, node };
      })
      .sort((a, b) => Number(a.index) - Number(b.index));
  }

  /** The project's servers whose name starts with the pool's prefix (all pages). */
  private async servers(prefix: string): Promise<NovaServer[]> {
    const all: NovaServer[] = [];
    let marker: string | undefined;
    for (;;) {
      const response = await this.options.client.request<{ servers: NovaServer[] }>('compute', 'GET', '/servers/detail', {
        microversion: NOVA_MICROVERSION,
        query: { name: `^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, limit: 200, marker },
      });
      all.push(...response.body.servers);
      if (response.body.servers.length < 200) return all;
      marker = response.body.servers.at(-1)!.id;
    }
  }

  private async serverGone(id: string): Promise<boolean> {
    const response = await this.options.client.request<{ server: NovaServer }>('compute', 'GET', `/servers/${encodeURIComponent(id)}`, { microversion: NOVA_MICROVERSION, expect: [200, 404] });
    return response.status === 404 || response.body.server.status === 'DELETED';
  }

  private async flavor(nameOrId: string): Promise<NovaFlavor> {
    const known = this.flavors.get(nameOrId);
    if (known) return known;
    const flavor = await findFlavor(this.options.client, nameOrId);
    this.flavors.set(nameOrId, flavor);
    return flavor;
  }

  // --- the template -------------------------------------------------------------------------

  /** The template, read and checked against the contract once (a wrong one names the key). */
  private loadTemplate(): NodePoolTemplate {
    if (this.template !== null) return this.template;
    const path = this.options.template ?? SHIPPED_NODE_POOL_TEMPLATE;
    let text: string;
    let document: unknown;
    try {
      text = readFileSync(path, 'utf8');
      document = parseYaml(text);
    } catch (error) {
      throw new ConfigError(`OPENSTACK_HEAT_TEMPLATE: cannot read ${path}: ${(error as Error).message.split('\n')[0]}`, 'OPENSTACK_HEAT_TEMPLATE');
    }
    const record = (document ?? {}) as { parameters?: Record<string, unknown>; resources?: Record<string, { type?: string }>; outputs?: Record<string, unknown> };
    const parameters = new Set(Object.keys(record.parameters ?? {}));
    const missing = REQUIRED_TEMPLATE_PARAMETERS.filter((name) => !parameters.has(name));
    const groups = Object.values(record.resources ?? {}).filter((resource) => resource?.type === 'OS::Heat::ResourceGroup');
    const problems = [
      ...(missing.length > 0 ? [`no parameter ${missing.join(', ')}`] : []),
      ...(groups.length !== 1 ? [`${groups.length} OS::Heat::ResourceGroup resources (must be exactly one)`] : []),
      ...(record.outputs?.[REMOVED_MEMBERS_OUTPUT] === undefined ? [`no output ${REMOVED_MEMBERS_OUTPUT}`] : []),
    ];
    if (problems.length > 0) throw new ConfigError(`OPENSTACK_HEAT_TEMPLATE: ${path} does not keep geartide's node-pool contract (docs/openstack-heat.md): ${problems.join('; ')}`, 'OPENSTACK_HEAT_TEMPLATE');
    this.template = { path, text, parameters };
    return this.template;
  }

  /** Only the parameters the template declares: Heat refuses any other. */
  private declared(template: NodePoolTemplate, parameters: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(parameters).filter(([name]) => template.parameters.has(name)));
  }

  /** The agents' user-data, with the template's placeholders; it holds the bootstrap token: never logged. */
  private userData(prefix: string): string {
    return nodeUserData({
      brokerUrl: this.options.brokerUrl,
      bootstrapToken: this.options.bootstrapToken,
      // ResourceGroup replaces %index% in each member's properties, so each agent registers
      // with its own server's name.
      nodeName: `${prefix}%index%`,
      district: DISTRICT_PLACEHOLDER,
      profile: this.options.gearProfile,
      maxActiveGears: this.options.maxActiveGears,
      scaleEventId: SCALE_EVENT_PLACEHOLDER,
    });
  }

  /** Settings fixed at creation that differ from the configuration now: said once, never applied. */
  private warnOfDrift(stack: HeatStack): void {
    if (this.warnedDrift) return;
    const wanted: Record<string, string> = { flavor: this.options.server.flavor, image: this.options.server.image, name_prefix: this.prefix };
    const drift = Object.entries(wanted).filter(([name, value]) => stack.parameters[name] !== undefined && stack.parameters[name] !== value);
    if (drift.length === 0) return;
    this.warnedDrift = true;
    this.options.log?.warn(
      { pool: this.options.pool, stack: this.stackName, drift: Object.fromEntries(drift.map(([name, value]) => [name, { stack: stack.parameters[name], configured: value }])) },
      'the stack keeps the settings it was created with (changing them would make Heat rebuild or rename every host); update the stack yourself to change them',
    );
  }

  private pollMs(): number {
    return this.options.pollMs ?? 1000;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** A member's state, from its Nova server when it has one, else from its Heat resource. */
function memberStatus(resource: HeatResource, server: NovaServer | undefined, stackInProgress: boolean, stackReason: string | null): { status: ProviderNodeStatus; error?: string } {
  const state = resource.resource_status;
  if (state.startsWith('DELETE_') && state !== 'DELETE_FAILED') return { status: 'deleting' };
  if (server !== undefined) {
    if (server['OS-EXT-STS:task_state'] === 'deleting' || server.status === 'DELETED' || server.status === 'SOFT_DELETED') return { status: 'deleting' };
    if (server.status === 'ERROR') return { status: 'failed', error: server.fault?.message ?? resource.resource_status_reason ?? 'the server is in ERROR (no fault given)' };
    if (server.status === 'BUILD') return { status: 'creating' };
    return { status: 'running' };
  }
  if (state.endsWith('_FAILED')) return { status: 'failed', error: resource.resource_status_reason || `${state} (no reason given)` };
  if (resource.physical_resource_id !== '') return { status: 'failed', error: `its server ${resource.physical_resource_id} no longer exists in Nova` };
  if (stackInProgress) return { status: 'creating' };
  // Never attempted: the update failed on another member first.
  return { status: 'failed', error: `not created: ${stackReason ?? 'the stack update ended first'}` };
}

/** The first `count` member names Heat uses: "0", "1", … skipping removed ones. */
function firstNames(count: number, skipped: ReadonlySet<string>): string[] {
  const names: string[] = [];
  for (let index = 0; names.length < count; index++) if (!skipped.has(String(index))) names.push(String(index));
  return names;
}

function parseScaleEvents(value: string | undefined): ScaleEventRecord[] {
  if (!value) return [];
  try {
    const parsed = JSON.parse(value) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed
      .filter((each): each is Record<string, unknown> => typeof each === 'object' && each !== null)
      .map((each) => ({ event: String(each.event), district: String(each.district), members: Array.isArray(each.members) ? each.members.map(String) : [] }));
  } catch {
    return [];
  }
}

/** Heat's times carry no zone; they are UTC. */
function parseHeatTime(value: string): number {
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
