// The provider conformance suite: what every Provider (local, openstack-nova, openstack-heat)
// must do, checked against the real thing behind it (local agent processes, a real Nova, a real
// Heat). Each provider's test file supplies a subject and calls describeProviderConformance.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import type { Provider, ProviderNode } from '../../src/providers/provider.ts';
import { eventually } from './platform.ts';

export interface ConformanceSubject {
  readonly provider: Provider;
  readonly district: string;
  /**
   * Sets the cloud's limit on this pool's hosts to `total` (a quota, LOCAL_MAX_NODES), or lifts
   * it with null.
   */
  limitTo(total: number | null): Promise<void>;
  /** Does the host with this provider id still exist in the cloud itself (not via the provider)? */
  existsInCloud(providerId: string): Promise<boolean>;
  /** How long a host may take to be running. */
  readonly bootTimeoutMs?: number;
  /** Releases what the subject set up (the provider's hosts are deleted by the suite). */
  close(): Promise<void>;
}

export { eventually };

const byName = (nodes: readonly ProviderNode[]) => [...nodes].sort((a, b) => a.name.localeCompare(b.name));

export function describeProviderConformance(label: string, setup: () => Promise<ConformanceSubject>): void {
  describe(`provider conformance: ${label}`, () => {
    let subject: ConformanceSubject;
    let provider: Provider;
    const run = randomUUID().slice(0, 8);
    const event = (n: number) => `scale-${run}${n}-conformance`;
    /** Hosts in the order they were created. */
    const created: ProviderNode[] = [];

    const running = (names: readonly string[]) =>
      eventually(
        `${names.join(', ')} running`,
        async () => {
          const nodes = await provider.nodes();
          const failed = nodes.find((node) => names.includes(node.name) && node.status === 'failed');
          if (failed) throw new Error(`host ${failed.name} failed: ${failed.error}`);
          return names.every((name) => nodes.some((node) => node.name === name && node.status === 'running'));
        },
        subject.bootTimeoutMs ?? 60_000,
      );

    before(async () => {
      subject = await setup();
      provider = subject.provider;
    });

    after(async () => {
      if (!provider) return;
      try {
        const left = (await provider.nodes()).map((node) => node.name);
        if (left.length > 0) await provider.deleteNodes(left);
        await subject.limitTo(null);
      } finally {
        await provider.close();
        await subject.close();
      }
    });

    it('starts with no hosts', async () => {
      assert.equal(await provider.targetSize(), 0);
      assert.deepEqual(await provider.nodes(), []);
      const headroom = await provider.headroom();
      assert.ok(headroom.nodes === null || headroom.nodes > 0, `headroom ${JSON.stringify(headroom)}`);
    });

    it('scales up by 2: hosts named, tagged with the scale event and district, running', async () => {
      const hosts = await provider.increaseSize({ count: 2, scaleEventId: event(1), district: subject.district });
      assert.equal(hosts.length, 2);
      assert.equal(new Set(hosts.map((host) => host.name)).size, 2, 'two distinct names');
      for (const host of hosts) {
        assert.equal(host.scaleEventId, event(1));
        assert.ok(['creating', 'running'].includes(host.status), `${host.name} is ${host.status}`);
      }
      assert.equal(await provider.targetSize(), 2);
      await running(hosts.map((host) => host.name));
      const listed = byName(await provider.nodes());
      assert.deepEqual(listed.map((node) => node.name), byName(hosts).map((host) => host.name));
      for (const node of listed) {
        assert.equal(node.scaleEventId, event(1), `${node.name}'s scale event`);
        assert.equal(node.district, subject.district, `${node.name}'s district`);
        assert.ok(await subject.existsInCloud(node.providerId), `${node.name} (${node.providerId}) exists in the cloud`);
      }
      // Creation order: the first created is the oldest, whichever name sorts first.
      created.push(...[...listed].sort((a, b) => a.createdAt - b.createdAt || a.name.localeCompare(b.name)));
    });

    it('is idempotent per scale event: the same request again creates nothing', async () => {
      const again = await provider.increaseSize({ count: 2, scaleEventId: event(1), district: subject.district });
      assert.deepEqual(byName(again).map((host) => host.name), byName(created).map((host) => host.name));
      assert.equal(await provider.targetSize(), 2);
    });

    it('scales up again without touching the hosts it has', async () => {
      const [more] = await provider.increaseSize({ count: 1, scaleEventId: event(2), district: subject.district });
      assert.ok(more);
      assert.ok(!created.some((host) => host.name === more.name), `a new name, not one of ${created.map((host) => host.name).join(', ')}`);
      await running([more.name]);
      const nodes = await provider.nodes();
      assert.equal(nodes.length, 3);
      for (const host of created) {
        const now = nodes.find((node) => node.name === host.name);
        assert.equal(now?.providerId, host.providerId, `${host.name} is the same host as before`);
      }
      created.push(nodes.find((node) => node.name === more.name)!);
    });

    it('deletes exactly the named host — the first, not the newest — and returns once it is gone', async () => {
      const [first, ...others] = created;
      await provider.deleteNodes([first!.name]);
      assert.equal(await subject.existsInCloud(first!.providerId), false, `${first!.name} is gone from the cloud`);
      const nodes = byName(await provider.nodes());
      assert.deepEqual(nodes.map((node) => node.name), byName(others).map((host) => host.name));
      for (const host of others) {
        assert.equal(nodes.find((node) => node.name === host.name)?.providerId, host.providerId, `${host.name} untouched`);
        assert.ok(await subject.existsInCloud(host.providerId), `${host.name} still in the cloud`);
      }
      assert.equal(await provider.targetSize(), 2);
      created.shift();
    });

    it('deleting a host that is already gone, or never was, is not an error and deletes nothing else', async () => {
      const before = byName(await provider.nodes()).map((node) => [node.name, node.providerId]);
      await provider.deleteNodes([`${created[0]!.name}-no-such-host`, 'no-such-host']);
      assert.deepEqual(byName(await provider.nodes()).map((node) => [node.name, node.providerId]), before);
    });

    it('at its limit: headroom() says none, with the reason, before any create; a forced scale-up is exhausted', async () => {
      await subject.limitTo(2);
      const headroom = await eventually('headroom 0', async () => {
        const seen = await provider.headroom();
        return seen.nodes === 0 ? seen : false;
      }, 10_000);
      assert.ok(headroom.reason && headroom.reason.length > 0, 'a reason in the cloud\'s terms');
      let outcome: string;
      try {
        const hosts = await provider.increaseSize({ count: 1, scaleEventId: event(3), district: subject.district });
        // A cloud that accepts first and fails later (Heat's stack update, Nova's conductor
        // re-check) must show the refused hosts as failed for lack of room.
        const failed = await eventually(
          'the forced hosts failed',
          async () => {
            const nodes = await provider.nodes();
            const mine = nodes.filter((node) => node.scaleEventId === event(3));
            return mine.length > 0 && mine.every((node) => node.status === 'failed') ? mine : false;
          },
          subject.bootTimeoutMs ?? 60_000,
        );
        assert.ok(hosts.length >= 0);
        for (const node of failed) assert.equal(node.exhausted, true, `${node.name} failed for lack of room: ${node.error}`);
        outcome = failed[0]!.error ?? '';
        await provider.deleteNodes(failed.map((node) => node.name));
      } catch (error) {
        const category = (error as { category?: string }).category;
        if (category !== 'exhausted') throw error;
        outcome = (error as Error).message;
      }
      assert.ok(outcome.length > 0);
      assert.equal(await provider.targetSize(), 2, 'nothing more than the limit');
    });

    it('recovers when the limit is lifted, without a new provider', async () => {
      await subject.limitTo(null);
      const headroom = await provider.headroom();
      assert.ok(headroom.nodes === null || headroom.nodes > 0, `headroom ${JSON.stringify(headroom)}`);
      const hosts = await provider.increaseSize({ count: 1, scaleEventId: event(4), district: subject.district });
      await running(hosts.map((host) => host.name));
      assert.equal(await provider.targetSize(), 3);
    });

    it('deletes several hosts at once, leaving none', async () => {
      const names = (await provider.nodes()).map((node) => node.name);
      const ids = (await provider.nodes()).map((node) => node.providerId);
      await provider.deleteNodes(names);
      assert.equal(await provider.targetSize(), 0);
      for (const id of ids) assert.equal(await subject.existsInCloud(id), false, `${id} gone`);
    });
  });
}
