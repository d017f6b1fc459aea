// The openstack-nova provider against the real Nova of ../shared/openstack (fake virt driver:
// servers go ACTIVE, no VM boots), through the conformance suite every provider passes, in a
// project of its own so the quota it sets touches nothing else.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { NovaProvider } from '../../src/providers/openstack/nova-provider.ts';
import { parseNodeUserData } from '../../src/providers/openstack/node-user-data.ts';
import { describeProviderConformance, eventually } from '../support/provider-conformance.ts';
import { createTestProject, openstackSkipReason, serverExists, serverUserData, type TestProject } from '../support/openstack.ts';

const skip = openstackSkipReason();
const SERVER = { flavor: 'm1.gear', image: 'tiny', networks: 'none', keyName: null, securityGroups: [], serverGroup: null, availabilityZone: null } as const;

const makeProvider = (project: TestProject, pool: string) =>
  new NovaProvider({
    client: project.client,
    pool,
    server: SERVER,
    brokerUrl: 'http://127.0.0.1:9',
    bootstrapToken: 'bootstrap-secret-for-test',
    gearProfile: 'small',
    maxActiveGears: 10,
    pollMs: 200,
  });

if (skip) {
  describe('openstack-nova provider', () => {
    it('needs the OpenStack harness', { skip }, () => {});
  });
} else {
  describeProviderConformance('openstack-nova', async () => {
    const project = await createTestProject('nova-conformance');
    return {
      provider: makeProvider(project, 'small'),
      district: 'east',
      limitTo: (total) => project.setInstanceQuota(total),
      existsInCloud: (id) => serverExists(project.admin, id),
      close: () => project.destroy(),
    };
  });

  describe('openstack-nova provider: what Nova is given and what it says', () => {
    let project: TestProject;
    let provider: NovaProvider;
    before(async () => {
      project = await createTestProject('nova');
      provider = makeProvider(project, 'medium');
    });
    after(async () => {
      await project.destroy();
    });

    it('boots each server with user-data that starts its agent under the server\'s own name', async () => {
      const [host] = await provider.increaseSize({ count: 1, scaleEventId: 'scale-1234abcd-user-data', district: 'west' });
      const userData = await serverUserData(project.admin, host!.providerId);
      assert.ok(userData, 'the server has user-data');
      const settings = parseNodeUserData(userData);
      assert.deepEqual(
        { ...settings },
        { brokerUrl: 'http://127.0.0.1:9', bootstrapToken: 'bootstrap-secret-for-test', nodeName: host!.name, district: 'west', profile: 'small', maxActiveGears: 10, scaleEventId: 'scale-1234abcd-user-data', agentPort: 7481 },
      );
      await provider.deleteNodes([host!.name]);
    });

    it('only sees its own pool: a server of another pool in the same project is neither listed nor deleted', async () => {
      const other = makeProvider(project, 'other');
      const [theirs] = await other.increaseSize({ count: 1, scaleEventId: 'scale-aaaabbbb-other', district: 'west' });
      assert.deepEqual(await provider.nodes(), []);
      await provider.deleteNodes([theirs!.name]);
      assert.equal(await serverExists(project.admin, theirs!.providerId), true, 'the other pool\'s server is untouched');
      await other.deleteNodes([theirs!.name]);
      assert.equal(await serverExists(project.admin, theirs!.providerId), false);
    });

    it('a quota of 0 instances: headroom names the quota, a create is refused as exhausted with Nova\'s words', async () => {
      await project.setInstanceQuota(0);
      try {
        const headroom = await provider.headroom();
        assert.equal(headroom.nodes, 0);
        assert.match(headroom.reason ?? '', /instances.*0 of 0/);
        await assert.rejects(provider.increaseSize({ count: 2, scaleEventId: 'scale-ccccdddd-quota', district: 'west' }), (error: Error & { category?: string; code?: string }) => {
          assert.equal(error.category, 'exhausted');
          assert.equal(error.code, 'cloud_exhausted');
          assert.match(error.message, /Quota exceeded/i);
          return true;
        });
        assert.equal(await provider.targetSize(), 0);
      } finally {
        await project.setInstanceQuota(null);
      }
    });

    it('creates that race past the quota: each refused one is exhausted, whether Nova says 403 or accepts it (202) and puts it in ERROR', async (t) => {
      await project.setInstanceQuota(2);
      try {
        // Six creators at once (say, pools of one project): each may see room at the API's
        // check; Nova's conductor counts again and puts the extra servers in ERROR after the 202.
        const racers = [1, 2, 3, 4, 5, 6].map(() => makeProvider(project, 'race'));
        const outcomes = await Promise.allSettled(racers.map((racer, index) => racer.increaseSize({ count: 1, scaleEventId: `scale-race-${index}`, district: 'west' })));
        const refusedAtOnce = outcomes.filter((outcome) => outcome.status === 'rejected');
        for (const outcome of refusedAtOnce) assert.equal((outcome.reason as { category?: string }).category, 'exhausted', String(outcome.reason));
        const nodes = await eventually('every accepted server ACTIVE or in ERROR', async () => {
          const seen = await racers[0]!.nodes();
          return seen.every((node) => node.status === 'running' || node.status === 'failed') ? seen : false;
        }, 60_000);
        const running = nodes.filter((node) => node.status === 'running');
        const failed = nodes.filter((node) => node.status === 'failed');
        assert.ok(running.length <= 2, `${running.length} running with a quota of 2`);
        assert.equal(running.length + failed.length + refusedAtOnce.length, 6);
        for (const node of failed) {
          assert.equal(node.exhausted, true, `${node.name}: ${node.error}`);
          assert.match(node.error ?? '', /Quota exceeded for instances/);
        }
        t.diagnostic(`refused with 403: ${refusedAtOnce.length}; accepted then ERROR: ${failed.length}; running: ${running.length}`);
        await racers[0]!.deleteNodes(nodes.map((node) => node.name));
        assert.equal(await racers[0]!.targetSize(), 0);
      } finally {
        await project.setInstanceQuota(null);
      }
    });

    it('names a flavor or image that does not exist by its broker.conf key', async () => {
      const wrong = new NovaProvider({ ...{ client: project.client, pool: 'wrong', brokerUrl: 'http://127.0.0.1:9', bootstrapToken: 't', gearProfile: 'small', maxActiveGears: 1 }, server: { ...SERVER, flavor: 'm1.nope' } });
      await assert.rejects(wrong.headroom(), /OPENSTACK_FLAVOR: no flavor 'm1.nope'.*m1\.gear/);
      const wrongImage = new NovaProvider({ ...{ client: project.client, pool: 'wrong', brokerUrl: 'http://127.0.0.1:9', bootstrapToken: 't', gearProfile: 'small', maxActiveGears: 1 }, server: { ...SERVER, image: 'no-such-image' } });
      await assert.rejects(wrongImage.increaseSize({ count: 1, scaleEventId: 'scale-x', district: 'west' }), /OPENSTACK_IMAGE: no image 'no-such-image'/);
    });
  });
}
