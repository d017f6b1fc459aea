// The autoscaler on a real OpenStack whose APIs misbehave, through a fault-injecting proxy in
// front of Keystone, Nova and Heat (clouds.yaml's auth_url and *_endpoint_override point at it):
// the APIs answering 503 for a while during a scale-up (backoff, then the same scale event asked
// again, no failure and no extra scale-up), the answer to a create lost after the cloud made the
// server (no duplicate server), and the APIs stopped during a scale-down (no wrong deletion;
// exactly the drained node's server goes once they are back).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { FaultProxy } from '../support/fault-proxy.ts';
import { openstackSkipReason } from '../support/openstack.ts';
import { startOpenStackPlatform, type OpenStackPlatform } from '../support/openstack-platform.ts';
import { eventually, type Platform, type PlatformUser } from '../support/platform.ts';

const skip = openstackSkipReason();

for (const providerKind of ['openstack-nova', 'openstack-heat'] as const) {
  describe(`${providerKind} under API faults (real OpenStack behind a fault-injecting proxy)`, { timeout: 600_000, skip: skip ?? false }, () => {
    let os: OpenStackPlatform;
    let p: Platform;
    let bob: PlatformUser;
    let keystone: FaultProxy;
    let compute: FaultProxy;
    let orchestration: FaultProxy;
    const proxies = () => [keystone, compute, orchestration];
    /** The request a scale-up sends to create hosts. */
    const createCall = providerKind === 'openstack-nova' ? { method: 'POST', path: /^\/v2\.1\/servers$/ } : { method: 'PATCH', path: /^\/v1\/[^/]+\/stacks\// };
    // Asked as admin, straight to Nova: what really exists, whatever the proxy does.
    const servers = () => os.servers();
    const activeNodes = () => os.activeNodes();

    before(async () => {
      keystone = await FaultProxy.start('http://127.0.0.1:5000');
      compute = await FaultProxy.start('http://127.0.0.1:8774');
      orchestration = await FaultProxy.start('http://127.0.0.1:8004');
      os = await startOpenStackPlatform(providerKind, providerKind === 'openstack-nova' ? 'faults-nova' : 'faults-heat', {
        authUrl: `${keystone.url}/v3`,
        cloudKeys: { compute_endpoint_override: `${compute.url}/v2.1`, orchestration_endpoint_override: `${orchestration.url}/v1/%(project_id)s` },
        brokerEnv: { OPENSTACK_TIMEOUT: '5' },
      });
      p = os.p;
      bob = await p.createUser('bob');
      await p.createDomain('auto', bob.token);
      await eventually('the pool\'s first node', async () => (await activeNodes()).length === 1, 90_000);
    });

    after(async () => {
      await os?.close();
      for (const proxy of [keystone, compute, orchestration]) await proxy?.close();
    });

    it('APIs answering 503 for a while during a scale-up: backoff, then the app gets its node, with no failure and no extra host', async () => {
      await p.createApp('auto', 'a1', { gears: 4, token: bob.token }); // the first node is full
      const since = Date.now();
      for (const proxy of [compute, orchestration]) proxy.inject({ action: { status: 503 } });
      const created = p.createApp('auto', 'a2', { gears: 2, token: bob.token }); // held: needs a node
      await new Promise((resolve) => setTimeout(resolve, 8_000));
      const during = compute.requests.filter((each) => each.at >= since).length + orchestration.requests.filter((each) => each.at >= since).length;
      // A pass a second, each call retried with doubling jittered delays: a handful, not a storm.
      assert.ok(during > 0 && during < 60, `${during} requests in 8 s of 503s`);
      assert.equal((await servers()).length, 1, 'nothing created while the API failed');
      for (const proxy of [compute, orchestration]) proxy.clear();
      await created;
      const nodes = await activeNodes();
      assert.equal(nodes.length, 2);
      assert.equal((await servers()).length, 2, 'one server for one scale-up');
      assert.equal((await p.events('pool.scale-up-failed')).length, 0);
      assert.equal((await p.events('pool.scale-up')).length, 2, 'the minimum, then one scale-up');
    });

    it('the answer to a create lost after the cloud made it: the same scale event is asked again and finds it, no duplicate server', async () => {
      const since = Date.now();
      const proxy = providerKind === 'openstack-nova' ? compute : orchestration;
      proxy.inject({ ...createCall, action: 'lose', times: 1 });
      await p.createApp('auto', 'a3', { gears: 3, token: bob.token }); // 6/8 active: needs a third node
      assert.equal(proxy.requests.filter((each) => each.at >= since && each.outcome === 'lost').length, 1, 'the create was made and its answer lost');
      assert.equal(proxy.count(createCall.method, createCall.path, since), 1, 'the create was sent once: the retry found the host');
      assert.equal((await servers()).length, 3);
      assert.equal((await activeNodes()).length, 3);
      const last = (await p.events('pool.scale-up')).at(-1)!;
      const registered = ((await p.api('GET', '/nodes')).items as { scaleEventId: string | null }[]).filter((node) => node.scaleEventId === last.data.scaleEventId);
      const history = (await p.events()).filter((event) => event.kind.startsWith('pool.')).map((event) => `${event.kind}: ${event.message}`);
      assert.equal(registered.length, 1, `one host for that scale event; pool events: ${history.join(' | ')}`);
    });

    it('APIs stopped during a scale-down: nothing is deleted meanwhile, then exactly the drained node\'s server goes', async () => {
      await p.api('POST', '/domains/auto/apps/a1/scale', { body: { gears: 2 }, token: bob.token });
      await p.api('DELETE', '/domains/auto/apps/a2', { token: bob.token, status: 204 });
      const down = await eventually('a scale-down', async () => (await p.events('pool.scale-down'))[0], 90_000);
      for (const proxy of proxies()) await proxy.stop();
      const victim = String(down.data.node);
      const before = await servers();
      const victimServer = before.find((server) => server.name === victim)!;
      assert.ok(victimServer, `${victim} is a server`);
      // The drain needs no cloud; the deletion does, and fails while the APIs are down.
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      assert.deepEqual((await servers()).map((server) => server.id).sort(), before.map((server) => server.id).sort(), 'no server deleted while the APIs are down');
      assert.notEqual((await p.api('GET', `/nodes/${victim}`)).state, 'gone');
      for (const proxy of proxies()) await proxy.resume();
      await eventually(`node ${victim} removed`, async () => (await p.api('GET', `/nodes/${victim}`)).state === 'gone', 180_000);
      const afterServers = await servers();
      assert.deepEqual(
        afterServers.map((server) => server.id).sort(),
        before.filter((server) => server.id !== victimServer.id).map((server) => server.id).sort(),
        'exactly that server is gone, every other one untouched',
      );
      assert.equal((await p.events('pool.scaled-down')).length, 1);
    });
  });
}
