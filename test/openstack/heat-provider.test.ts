// The openstack-heat provider against the real Heat (and Nova, fake virt driver: servers go
// ACTIVE, no VM boots) of ../shared/openstack: the conformance suite every provider passes, then
// what is particular to a ResourceGroup stack (servers kept across scale-ups, removal_policies,
// no update while Heat is busy, UPDATE_FAILED on quota). Each part runs in a project of its own,
// so the quota it sets touches no one else.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { isGeartideError } from '../../src/core/errors.ts';
import { HeatProvider, SHIPPED_NODE_POOL_TEMPLATE, type HeatProviderOptions } from '../../src/providers/openstack/heat-provider.ts';
import { parseNodeUserData } from '../../src/providers/openstack/node-user-data.ts';
import type { OpenStackClient } from '../../src/providers/openstack/openstack-client.ts';
import type { ProviderNode } from '../../src/providers/provider.ts';
import { createTestProject, openstackSkipReason, serverExists, serverUserData, type TestProject } from '../support/openstack.ts';
import { describeProviderConformance, eventually } from '../support/provider-conformance.ts';

const skip = openstackSkipReason();
const SERVER = { flavor: 'm1.gear', image: 'tiny', networks: 'none', keyName: null, securityGroups: [], serverGroup: null, availabilityZone: null } as const;
const BOOTSTRAP_TOKEN = 'bootstrap-secret-for-heat-test';

const makeProvider = (project: TestProject, pool: string, more: Partial<HeatProviderOptions> = {}) =>
  new HeatProvider({
    client: project.client,
    pool,
    server: SERVER,
    brokerUrl: 'http://127.0.0.1:9',
    bootstrapToken: BOOTSTRAP_TOKEN,
    gearProfile: 'small',
    maxActiveGears: 10,
    pollMs: 200,
    ...more,
  });

interface Stack {
  id: string;
  stack_status: string;
  stack_status_reason: string;
  parameters: Record<string, string>;
}

/** The stack as Heat has it, past the provider. */
async function heatStack(client: OpenStackClient, name: string): Promise<Stack | null> {
  const listed = (await client.request<{ stacks: { id: string; stack_name: string }[] }>('orchestration', 'GET', '/stacks', { query: { name } })).body.stacks.find((each) => each.stack_name === name);
  if (!listed) return null;
  return (await client.request<{ stack: Stack }>('orchestration', 'GET', `/stacks/${name}/${listed.id}`)).body.stack;
}

/** The stack's own events (not its resources'), oldest first, as `<id> <ACTION_STATUS>`. */
async function stackEvents(client: OpenStackClient, name: string, id: string): Promise<string[]> {
  const events = (
    await client.request<{ events: { id: string; resource_name: string; resource_status: string }[] }>('orchestration', 'GET', `/stacks/${name}/${id}/events`, {
      query: { resource_name: name, sort_dir: 'asc', limit: 1000 },
    })
  ).body.events;
  return events.map((event) => `${event.id} ${event.resource_status}`);
}

/** The events in `after` that are not in `before`, without their ids. */
const newEvents = (before: readonly string[], after: readonly string[]) => after.filter((event) => !before.includes(event)).map((event) => event.split(' ')[1]);

/** Deletes the stack and waits until Heat has (its servers with it). */
async function deleteStack(client: OpenStackClient, name: string): Promise<void> {
  const stack = await heatStack(client, name);
  if (!stack) return;
  await client.request('orchestration', 'DELETE', `/stacks/${name}/${stack.id}`, { expect: [204, 404] });
  await eventually(`stack ${name} deleted`, async () => {
    const now = await heatStack(client, name);
    if (now?.stack_status === 'DELETE_FAILED') throw new Error(`stack ${name}: DELETE_FAILED: ${now.stack_status_reason}`);
    return now === null;
  }, 120_000, 500);
}

const sorted = (nodes: readonly ProviderNode[]) => [...nodes].sort((a, b) => a.name.localeCompare(b.name));

describe('openstack-heat provider: the template contract', () => {
  it('an operator template that misses part of the contract is refused before any call, naming the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'geartide-heat-'));
    try {
      const path = join(dir, 'pool.yaml');
      writeFileSync(path, readFileSync(SHIPPED_NODE_POOL_TEMPLATE, 'utf8').replace(/^outputs:[\s\S]*$/m, ''));
      // No cloud behind this client: the template is checked first.
      const provider = new HeatProvider({
        client: { request: () => Promise.resolve({ status: 200, headers: {}, body: { stacks: [] } }) } as unknown as OpenStackClient,
        pool: 'small',
        server: SERVER,
        brokerUrl: 'http://127.0.0.1:9',
        bootstrapToken: BOOTSTRAP_TOKEN,
        gearProfile: 'small',
        maxActiveGears: 10,
        template: path,
      });
      await assert.rejects(provider.increaseSize({ count: 1, scaleEventId: 'scale-x', district: 'east' }), (error: unknown) => {
        assert.ok(isGeartideError(error));
        assert.equal(error.field, 'OPENSTACK_HEAT_TEMPLATE');
        assert.match(error.message, /no output removed_members/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

if (skip) {
  describe('openstack-heat provider', () => {
    it('needs the OpenStack harness', { skip }, () => {});
  });
} else {
  describeProviderConformance('openstack-heat', async () => {
    const project = await createTestProject('heat-conformance');
    const provider = makeProvider(project, 'small');
    return {
      provider,
      district: 'east',
      limitTo: (total) => project.setInstanceQuota(total),
      existsInCloud: (id) => serverExists(project.admin, id),
      close: async () => {
        try {
          await deleteStack(project.client, 'geartide-small');
        } finally {
          await project.destroy();
        }
      },
    };
  });

  describe('openstack-heat provider: one ResourceGroup stack per pool on the real Heat', () => {
    let project: TestProject;
    let provider: HeatProvider;
    const run = randomUUID().slice(0, 8);
    const pool = `heat${run}`;
    const stackName = `geartide-${pool}`;
    const event = (label: string) => `scale-${run}-${label}`;
    /** The hosts in creation order, as first seen running. */
    const hosts: ProviderNode[] = [];

    const running = (names: readonly string[]) =>
      eventually(`${names.join(', ')} running`, async () => {
        const nodes = await provider.nodes();
        const failed = nodes.find((node) => names.includes(node.name) && node.status === 'failed');
        if (failed) throw new Error(`host ${failed.name} failed: ${failed.error}`);
        const mine = nodes.filter((node) => names.includes(node.name) && node.status === 'running');
        return mine.length === names.length ? mine : false;
      });

    /** Waits for Heat to finish what it is doing (a member goes ACTIVE a little before its update completes). */
    const settled = () =>
      eventually('the stack settled', async () => {
        const stack = await heatStack(project.client, stackName);
        return stack !== null && !stack.stack_status.endsWith('_IN_PROGRESS') ? stack : false;
      });

    before(async () => {
      project = await createTestProject('heat');
      provider = makeProvider(project, pool);
    });

    after(async () => {
      try {
        await deleteStack(project.client, stackName);
      } finally {
        await project.destroy();
      }
    });

    it('scales up by 2, then by 2 more: the first servers keep their ids and their user-data', async (t) => {
      let started = Date.now();
      const first = await provider.increaseSize({ count: 2, scaleEventId: event('a'), district: 'east' });
      t.diagnostic(`increaseSize(2) on a new stack returned in ${Date.now() - started} ms`);
      assert.deepEqual(first.map((host) => host.name), [`gt-${pool}-0`, `gt-${pool}-1`]);
      hosts.push(...sorted(await running(first.map((host) => host.name))));
      t.diagnostic(`2 servers ACTIVE ${Date.now() - started} ms after the request`);

      started = Date.now();
      const more = await provider.increaseSize({ count: 2, scaleEventId: event('b'), district: 'west' });
      t.diagnostic(`increaseSize(2) on the stack returned in ${Date.now() - started} ms`);
      assert.deepEqual(more.map((host) => host.name), [`gt-${pool}-2`, `gt-${pool}-3`]);
      hosts.push(...sorted(await running(more.map((host) => host.name))));
      t.diagnostic(`2 more servers ACTIVE ${Date.now() - started} ms after the request`);
      assert.equal((await settled()).stack_status, 'UPDATE_COMPLETE');

      const nodes = sorted(await provider.nodes());
      assert.equal(nodes.length, 4);
      for (const host of hosts) {
        const now = nodes.find((node) => node.name === host.name)!;
        assert.equal(now.providerId, host.providerId, `${host.name} is the same server`);
        assert.ok(await serverExists(project.admin, host.providerId));
        const expected = host.name.endsWith('-0') || host.name.endsWith('-1') ? { scaleEventId: event('a'), district: 'east' } : { scaleEventId: event('b'), district: 'west' };
        assert.deepEqual({ scaleEventId: now.scaleEventId, district: now.district }, expected, `${host.name}'s scale event`);
        // What the agent on that server will register with: its own name, its own scale event.
        const settings = parseNodeUserData((await serverUserData(project.admin, host.providerId))!);
        assert.deepEqual(
          { ...settings },
          { brokerUrl: 'http://127.0.0.1:9', bootstrapToken: BOOTSTRAP_TOKEN, nodeName: host.name, district: expected.district, profile: 'small', maxActiveGears: 10, scaleEventId: expected.scaleEventId, agentPort: 7481 },
        );
      }
      assert.equal(await provider.targetSize(), 4);
    });

    it('is idempotent per scale event: the same request again sends no update', async () => {
      const stack = await settled();
      const eventsBefore = await stackEvents(project.client, stackName, stack.id);
      const again = await provider.increaseSize({ count: 2, scaleEventId: event('b'), district: 'west' });
      assert.deepEqual(again.map((host) => host.name), [`gt-${pool}-2`, `gt-${pool}-3`]);
      assert.deepEqual(await stackEvents(project.client, stackName, stack.id), eventsBefore, 'no new stack event');
      assert.equal(await provider.targetSize(), 4);
    });

    it('deletes the first member (index 0), not the newest: exactly that server is gone from Nova', async (t) => {
      const [first, ...others] = hosts;
      const started = Date.now();
      await provider.deleteNodes([first!.name]);
      t.diagnostic(`deleteNodes(1) returned in ${Date.now() - started} ms, stack update complete and server gone`);
      assert.equal(await serverExists(project.admin, first!.providerId), false, `${first!.name} gone from Nova`);
      const nodes = sorted(await provider.nodes());
      assert.deepEqual(nodes.map((node) => [node.name, node.providerId]), others.map((host) => [host.name, host.providerId]));
      for (const host of others) assert.ok(await serverExists(project.admin, host.providerId), `${host.name} still in Nova`);
      const stack = (await heatStack(project.client, stackName))!;
      assert.equal(stack.stack_status, 'UPDATE_COMPLETE');
      assert.equal(stack.parameters.count, '3');
      // Deleting it again, or a name the stack never had, is not an error and sends no update.
      const eventsBefore = await stackEvents(project.client, stackName, stack.id);
      await provider.deleteNodes([first!.name, 'gt-no-such-host']);
      assert.deepEqual(await stackEvents(project.client, stackName, stack.id), eventsBefore);
      hosts.shift();

      // The removed name is never reused: the next member is 4, not 0.
      const [next] = await provider.increaseSize({ count: 1, scaleEventId: event('c'), district: 'east' });
      assert.equal(next!.name, `gt-${pool}-4`);
      hosts.push((await running([next!.name]))[0]!);
    });

    it('sends no update while the stack is UPDATE_IN_PROGRESS: a second broker waits, or gives up with a transient error', async () => {
      // A second provider on the same stack, as a second broker process would be (the first
      // one's in-process queue does not protect it).
      const impatient = makeProvider(project, pool, { busyTimeoutMs: 0 });
      const patient = makeProvider(project, pool, { busyTimeoutMs: 120_000 });
      const stackId = (await settled()).id;
      const eventsBefore = await stackEvents(project.client, stackName, stackId);

      const growing = provider.increaseSize({ count: 1, scaleEventId: event('d'), district: 'east' });
      await eventually('the stack UPDATE_IN_PROGRESS', async () => (await heatStack(project.client, stackName))?.stack_status === 'UPDATE_IN_PROGRESS', 30_000, 50);
      await assert.rejects(impatient.increaseSize({ count: 1, scaleEventId: event('e'), district: 'east' }), (error: unknown) => {
        assert.ok(isGeartideError(error));
        assert.equal(error.code, 'cloud_busy');
        assert.equal(error.category, 'transient');
        return true;
      });
      const waiting = patient.increaseSize({ count: 1, scaleEventId: event('f'), district: 'east' });
      const [d] = await growing;
      const [f] = await waiting;
      assert.equal((await settled()).stack_status, 'UPDATE_COMPLETE');

      // Heat saw two updates, one after the other, never one on top of another.
      const events = newEvents(eventsBefore, await stackEvents(project.client, stackName, stackId));
      assert.deepEqual(events, ['UPDATE_IN_PROGRESS', 'UPDATE_COMPLETE', 'UPDATE_IN_PROGRESS', 'UPDATE_COMPLETE']);
      const nodes = await provider.nodes();
      assert.equal(nodes.filter((node) => node.scaleEventId === event('e')).length, 0, 'the impatient request created nothing');
      assert.equal(nodes.find((node) => node.name === d!.name)?.scaleEventId, event('d'));
      assert.equal(nodes.find((node) => node.name === f!.name)?.scaleEventId, event('f'));
      hosts.push(...(await running([d!.name, f!.name])));
      await provider.deleteNodes([d!.name, f!.name]);
      hosts.splice(-2);
      assert.equal(await provider.targetSize(), hosts.length);
    });

    it('on quota: the update ends UPDATE_FAILED, classified exhausted with Heat\'s reason; deletes still work; after a reset, scale-up works again', async (t) => {
      await settled();
      const live = await provider.targetSize();
      assert.equal(live, hosts.length);
      await project.setInstanceQuota(live);
      try {
        // No room at all: the whole scale-up fails, and says why in Heat's words.
        let refused: unknown;
        await provider.increaseSize({ count: 1, scaleEventId: event('g'), district: 'east' }).catch((error: unknown) => {
          refused = error;
        });
        assert.ok(isGeartideError(refused), `refused: ${String(refused)}`);
        assert.equal(refused.code, 'cloud_exhausted');
        assert.equal(refused.category, 'exhausted');
        const stack = (await heatStack(project.client, stackName))!;
        assert.equal(stack.stack_status, 'UPDATE_FAILED');
        t.diagnostic(`Heat's reason: ${stack.stack_status_reason}`);
        assert.match(stack.stack_status_reason, /Quota exceeded for instances/);
        assert.ok(refused.message.includes(stack.stack_status_reason), `the error carries Heat's reason: ${refused.message}`);
        const failed = (await provider.nodes()).filter((node) => node.scaleEventId === event('g'));
        assert.equal(failed.length, 1);
        assert.equal(failed[0]!.status, 'failed');
        assert.equal(failed[0]!.exhausted, true);
        assert.match(failed[0]!.error!, /Quota exceeded for instances/);
        assert.equal(await provider.targetSize(), live, 'a failed member is no host');

        // Room for one of two: increaseSize returns once Heat accepted the update; the member
        // Nova refused shows up failed (exhausted, Heat's or Nova's words) in nodes().
        await project.setInstanceQuota(live + 1);
        const two = await provider.increaseSize({ count: 2, scaleEventId: event('h'), district: 'east' });
        assert.equal(two.length, 2);
        assert.ok(!(await provider.nodes()).some((node) => node.scaleEventId === event('g')), 'the earlier failed member was removed, not created again under a new scale event');
        const settled = await eventually('one running and one failed', async () => {
          const mine = (await provider.nodes()).filter((node) => node.scaleEventId === event('h'));
          return mine.some((node) => node.status === 'running') && mine.some((node) => node.status === 'failed') ? mine : false;
        });
        const refusedHost = settled.find((node) => node.status === 'failed')!;
        assert.equal(refusedHost.exhausted, true, `${refusedHost.name}: ${refusedHost.error}`);
        assert.match(refusedHost.error!, /quota/i);
        await eventually('the stack UPDATE_FAILED', async () => (await heatStack(project.client, stackName))?.stack_status === 'UPDATE_FAILED');
        hosts.push(settled.find((node) => node.status === 'running')!);

        // What the broker does next: delete the host that never came; a PATCH on an
        // UPDATE_FAILED stack is fine.
        await provider.deleteNodes([refusedHost.name]);
        assert.equal((await heatStack(project.client, stackName))!.stack_status, 'UPDATE_COMPLETE');
        assert.deepEqual(sorted(await provider.nodes()).map((node) => node.name), sorted(hosts).map((host) => host.name));
      } finally {
        await project.setInstanceQuota(null);
      }

      const [back] = await provider.increaseSize({ count: 1, scaleEventId: event('i'), district: 'east' });
      await running([back!.name]);
      assert.equal((await settled()).stack_status, 'UPDATE_COMPLETE');
      for (const host of hosts) assert.equal((await provider.nodes()).find((node) => node.name === host.name)?.providerId, host.providerId, `${host.name} untouched by all this`);
      assert.equal(await provider.targetSize(), hosts.length + 1);
    });
  });
}
