// The autoscaler end to end on a real OpenStack (../shared/openstack): a broker with
// AUTOSCALE_PROVIDER=openstack-nova or openstack-heat, reading its cloud from a clouds.yaml, in a
// project of its own. Nova's fake driver boots no VM, so a stand-in for cloud-init starts a local
// node agent for each ACTIVE server with that server's user-data settings — the rest of the loop
// is the real thing: utilization over the threshold → server created → its agent registers with
// the scale-event id → gears placed; quota reached → the pool exhausted in status, events and
// metrics and app creation refused with the cloud's reason; quota raised → recovery without a
// restart; under-use → the chosen node drained → exactly that server deleted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { request } from 'undici';

import { openstackSkipReason } from '../support/openstack.ts';
import { startOpenStackPlatform, type OpenStackPlatform } from '../support/openstack-platform.ts';
import { eventually, type Platform, type PlatformUser } from '../support/platform.ts';

const skip = openstackSkipReason();

for (const providerKind of ['openstack-nova', 'openstack-heat'] as const) {
  describe(`autoscaler end to end with ${providerKind} (real OpenStack, agents, gears, router)`, { timeout: 600_000, skip: skip ?? false }, () => {
    let os: OpenStackPlatform;
    let p: Platform;
    let bob: PlatformUser;
    const status = () => p.api('GET', '/autoscaler');
    const pool = async () => (await status()).pools[0];
    const metrics = async () => (await (await request(`${p.brokerUrl}/metrics`)).body.text());
    const nodesOf = async (domain: string, app: string) => (await p.app(domain, app)).gears.map((gear) => gear.node).sort();
    const servers = () => os.servers();
    const activeNodes = () => os.activeNodes();

    before(async () => {
      os = await startOpenStackPlatform(providerKind, providerKind === 'openstack-nova' ? 'e2e-nova' : 'e2e-heat', { brokerEnv: { PROVISION_TIMEOUT: '120', APP_CREATE_WAIT: '90' } });
      p = os.p;
      bob = await p.createUser('bob');
      await p.createDomain('auto', bob.token);
    });

    after(async () => {
      await os?.close();
    });

    it('brings the pool to its minimum: a server is created and its agent registers with the scale event', async () => {
      const [node] = await eventually('a node registered', async () => {
        const names = await activeNodes();
        return names.length === 1 ? names : false;
      }, 60_000);
      const [server] = await servers();
      assert.equal(server?.name, node, 'the node is the server, by name');
      const registered = await p.api('GET', `/nodes/${node}`);
      assert.ok(registered.scaleEventId?.startsWith('scale-'));
      const booted = os.cloudInit.boots.find((boot) => boot.serverId === server!.id);
      assert.equal(booted?.settings.scaleEventId, registered.scaleEventId, 'the scale event went through the server\'s user-data');
      assert.equal(booted?.settings.district, 'default');
      assert.equal((await p.events('pool.scale-up')).length, 1);
    });

    it('utilization over the threshold: a second server, its agent registers, and the waiting app\'s gears land on it', async () => {
      await p.createApp('auto', 'a1', { gears: 4, token: bob.token }); // 4/4 active
      const before = new Set(await activeNodes());
      await p.createApp('auto', 'a2', { gears: 2, token: bob.token }); // held until the new node
      const added = (await activeNodes()).filter((name) => !before.has(name));
      assert.equal(added.length, 1, `one node added: ${added.join(', ')}`);
      assert.deepEqual(await nodesOf('auto', 'a2'), [added[0], added[0]]);
      const server = (await servers()).find((each) => each.name === added[0]);
      assert.ok(server, `Nova has server ${added[0]}`);
      const node = await p.api('GET', `/nodes/${added[0]}`);
      const scaleUps = await p.events('pool.scale-up');
      assert.equal(node.scaleEventId, scaleUps.at(-1)!.data.scaleEventId, 'the node fulfils the latest scale-up');
      await p.waitForGearsStarted('auto', 'a1');
      await p.waitForGearsStarted('auto', 'a2');
    });

    it('quota reached: the pool is exhausted in status, events and metrics, and an app create is refused with Nova\'s reason', async () => {
      await os.project.setInstanceQuota(2);
      // 6/8 active: a3's 3 gears need a third host, which the quota does not allow.
      const refused = await p.api('POST', '/domains/auto/apps', { body: { name: 'a3', cartridge: 'nodejs', gears: 3 }, token: bob.token, status: 409 });
      assert.equal(refused.error.code, 'cloud_exhausted');
      assert.match(refused.error.message, /pool small cannot grow: the cloud is exhausted: .*instances/i);
      await p.api('GET', '/domains/auto/apps/a3', { token: bob.token, status: 404 });
      assert.match((await pool()).exhausted.reason, /quota instances reached: 2 of 2 instances used/);
      assert.ok((await p.events('pool.exhausted')).length >= 1);
      assert.match(await metrics(), /geartide_pool_exhausted\{pool="small"\} 1/);
      assert.equal((await servers()).length, 2, 'no server past the quota');
    });

    it('quota raised: the pool recovers without a restart and the app gets its node', async () => {
      await os.project.setInstanceQuota(3);
      await eventually('the pool to recover', async () => (await pool()).exhausted === null, 30_000);
      await p.createApp('auto', 'a3', { gears: 3, token: bob.token });
      await p.waitForGearsStarted('auto', 'a3');
      assert.equal((await activeNodes()).length, 3);
      assert.match(await metrics(), /geartide_pool_exhausted\{pool="small"\} 0/);
    });

    it('under-use: the node with the fewest active gears is drained and exactly its server is deleted, with 0 failed requests', async () => {
      await p.api('POST', '/domains/auto/apps/a1/scale', { body: { gears: 2 }, token: bob.token });
      await p.api('DELETE', '/domains/auto/apps/a2', { token: bob.token, status: 204 });
      const hosts = [p.appHost('a1', 'auto'), p.appHost('a3', 'auto')];
      for (const host of hosts) await eventually(`the router to serve ${host}`, async () => (await p.viaRouter(host)).status === 200, 30_000);
      const load = p.startLoad({ hosts, clients: 4 });
      const down = await eventually('a scale-down', async () => (await p.events('pool.scale-down'))[0], 60_000);
      const victim = String(down.data.node);
      const before = await servers();
      const victimServer = before.find((server) => server.name === victim);
      assert.ok(victimServer, `the chosen node ${victim} is a server`);
      await eventually(`node ${victim} removed`, async () => (await p.api('GET', `/nodes/${victim}`)).state === 'gone', 120_000);
      const report = await load.stop();
      assert.equal(report.failures, 0, `failed requests: ${JSON.stringify(report.failureSamples)}`);
      const afterServers = await servers();
      assert.equal(afterServers.some((server) => server.id === victimServer.id), false, 'that exact server is gone from Nova');
      assert.deepEqual(
        afterServers.map((server) => server.id).sort(),
        before.filter((server) => server.id !== victimServer.id).map((server) => server.id).sort(),
        'every other server is untouched',
      );
      for (const host of hosts) assert.equal((await p.viaRouter(host)).status, 200);
    });
  });
}
