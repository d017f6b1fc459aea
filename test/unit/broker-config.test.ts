import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { BROKER_CONF_KEYS, brokerConfReference, loadBrokerConfig, parseBrokerConf, redactUrl } from '../../src/broker/broker-config.ts';
import { ConfigError } from '../../src/core/errors.ts';

const homes: string[] = [];
after(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

function homeWith(conf?: string): string {
  const home = mkdtempSync(join(tmpdir(), 'geartide-conf-'));
  homes.push(home);
  if (conf !== undefined) writeFileSync(join(home, 'broker.conf'), conf);
  return home;
}

describe('broker.conf', () => {
  it('has a default for every key a fresh machine needs, and they resolve', () => {
    const home = homeWith();
    const config = loadBrokerConfig({ env: { GEARTIDE_HOME: home } });
    assert.equal(config.port, 7480);
    assert.equal(config.datastoreUrl, `sqlite:${join(home, 'broker.db')}`);
    assert.equal(config.cloudDomain, 'localhost');
    assert.equal(config.districtsFirstUid, 1000);
    assert.equal(config.districtsMaxCapacity, 6000);
    assert.deepEqual(config.validGearSizes, ['small', 'medium', 'large']);
    assert.equal(config.nodeBootstrapToken, undefined);
  });

  it('reads KEY="value" lines, comments and single quotes; the environment overrides the file', () => {
    const home = homeWith('# a comment\n\nCLOUD_DOMAIN="apps.example.com"\nBROKER_PORT=\'9000\'\nDEFAULT_MAX_GEARS=7\n');
    const fromFile = loadBrokerConfig({ env: { GEARTIDE_HOME: home } });
    assert.equal(fromFile.cloudDomain, 'apps.example.com');
    assert.equal(fromFile.port, 9000);
    assert.equal(fromFile.defaultMaxGears, 7);
    const overridden = loadBrokerConfig({ env: { GEARTIDE_HOME: home, BROKER_PORT: '9100' } });
    assert.equal(overridden.port, 9100);
  });

  it('reads the file named by --config instead of the one in GEARTIDE_HOME', () => {
    const other = join(homeWith(), 'custom.conf');
    writeFileSync(other, 'CLOUD_DOMAIN="custom.example"\n');
    assert.equal(loadBrokerConfig({ configPath: other, env: { GEARTIDE_HOME: homeWith('CLOUD_DOMAIN="ignored.example"\n') } }).cloudDomain, 'custom.example');
  });

  const refused: { name: string; conf?: string; env?: Record<string, string>; configPath?: string; key: string; message: RegExp }[] = [
    { name: 'an unknown key, with a suggestion', conf: 'BROKER_PROT="1"\n', key: 'BROKER_PROT', message: /unknown key BROKER_PROT \(did you mean BROKER_PORT\?\)/ },
    { name: 'an unknown key far from any known one', conf: 'FROBNICATE="1"\n', key: 'FROBNICATE', message: /unknown key FROBNICATE$/ },
    { name: 'a non-integer port', conf: 'BROKER_PORT="http"\n', key: 'BROKER_PORT', message: /must be an integer/ },
    { name: 'a port out of range', env: { BROKER_PORT: '70000' }, key: 'BROKER_PORT', message: /between 0 and 65535/ },
    { name: 'a line that is not KEY=value', conf: 'just words\n', key: 'line 1', message: /expected KEY="value"/ },
    { name: 'an unterminated quote', conf: 'CLOUD_DOMAIN="open\n', key: 'CLOUD_DOMAIN', message: /unterminated quote/ },
    { name: 'a datastore URL of an unknown scheme', env: { DATASTORE_URL: 'mysql://u:secret@h/db' }, key: 'DATASTORE_URL', message: /must start with sqlite: or postgres:\/\// },
    { name: 'a default gear size not offered', env: { DEFAULT_GEAR_SIZE: 'huge' }, key: 'DEFAULT_GEAR_SIZE', message: /not one of VALID_GEAR_SIZES/ },
    { name: 'an empty list', env: { VALID_GEAR_SIZES: ' , ' }, key: 'VALID_GEAR_SIZES', message: /at least one value/ },
    { name: 'a gear size that is not a name', env: { VALID_GEAR_SIZES: 'small,Big Gear' }, key: 'VALID_GEAR_SIZES', message: /not a valid name/ },
    { name: 'a short bootstrap token', env: { NODE_BOOTSTRAP_TOKEN: 'short' }, key: 'NODE_BOOTSTRAP_TOKEN', message: /at least 16 characters/ },
    { name: 'a lost-after not longer than the heartbeat', env: { NODE_LOST_AFTER: '5', NODE_HEARTBEAT_INTERVAL: '5' }, key: 'NODE_LOST_AFTER', message: /must be longer than NODE_HEARTBEAT_INTERVAL/ },
    { name: 'a public URL that is not http', env: { BROKER_PUBLIC_URL: 'ftp://x' }, key: 'BROKER_PUBLIC_URL', message: /http\(s\) URL/ },
    { name: 'an unknown log level', env: { BROKER_LOG_LEVEL: 'loud' }, key: 'BROKER_LOG_LEVEL', message: /must be one of/ },
    { name: 'a cloud domain that is not a DNS name', env: { CLOUD_DOMAIN: 'Apps_Example' }, key: 'CLOUD_DOMAIN', message: /DNS name/ },
    { name: 'an unknown autoscale provider', env: { AUTOSCALE_PROVIDER: 'aws' }, key: 'AUTOSCALE_PROVIDER', message: /must be one of none, local/ },
    { name: 'a pool of a profile not offered', env: { AUTOSCALE_POOLS: 'huge max=3' }, key: 'AUTOSCALE_POOLS', message: /pool huge: profile 'huge' is not one of VALID_GEAR_SIZES/ },
    { name: 'a pool attribute it does not know (a typo must not leave a pool unbounded)', env: { AUTOSCALE_POOLS: 'small maxx=3' }, key: 'AUTOSCALE_POOLS', message: /pool small: 'maxx=3' is not one of min=N, max=N, max-active-gears=N/ },
    { name: 'a pool whose min is above its max', env: { AUTOSCALE_POOLS: 'small min=5 max=3' }, key: 'AUTOSCALE_POOLS', message: /pool small: min \(5\) is above max \(3\)/ },
    { name: 'a profile pool beside a district pool of the same profile', env: { AUTOSCALE_POOLS: 'small; small@east' }, key: 'AUTOSCALE_POOLS', message: /pools small and small@east would manage the same node hosts/ },
    { name: 'a pool listed twice', env: { AUTOSCALE_POOLS: 'small@east; small@east' }, key: 'AUTOSCALE_POOLS', message: /listed twice/ },
    { name: 'a pool name that is not PROFILE@DISTRICT', env: { AUTOSCALE_POOLS: 'small@' }, key: 'AUTOSCALE_POOLS', message: /not PROFILE or PROFILE@DISTRICT/ },
    { name: 'a scale-down margin not below the threshold', env: { SCALE_UP_THRESHOLD: '50', SCALE_DOWN_MARGIN: '50' }, key: 'SCALE_DOWN_MARGIN', message: /must be below SCALE_UP_THRESHOLD/ },
    { name: 'a threshold over 100 %', env: { SCALE_UP_THRESHOLD: '120' }, key: 'SCALE_UP_THRESHOLD', message: /between 1 and 100/ },
    { name: 'a backoff maximum below its start', env: { SCALE_BACKOFF_INITIAL: '60', SCALE_BACKOFF_MAX: '30' }, key: 'SCALE_BACKOFF_MAX', message: /at least SCALE_BACKOFF_INITIAL/ },
    { name: 'a local node limit that is not a number', env: { LOCAL_MAX_NODES: 'many' }, key: 'LOCAL_MAX_NODES', message: /must be an integer/ },
    { name: 'a --config file that does not exist', configPath: '/nonexistent/broker.conf', key: '--config', message: /does not exist/ },
  ];
  for (const testCase of refused) {
    it(`refuses ${testCase.name}, naming ${testCase.key}`, () => {
      const home = homeWith(testCase.conf);
      assert.throws(
        () => loadBrokerConfig({ env: { GEARTIDE_HOME: home, ...testCase.env }, configPath: testCase.configPath }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
          assert.equal(error.field, testCase.key);
          assert.match(error.message, testCase.message);
          return true;
        },
      );
    });
  }

  it('reads the autoscaler\'s pools: defaults from AUTOSCALE_*, overridden per pool', () => {
    const defaults = loadBrokerConfig({ env: { GEARTIDE_HOME: homeWith() } }).autoscale;
    assert.equal(defaults.provider, 'none');
    assert.deepEqual(defaults.pools, [{ name: 'small', gearProfile: 'small', district: null, minNodes: 1, maxNodes: 10, maxActiveGears: 50, flavor: null }]);
    assert.equal(defaults.openstack, null);
    assert.equal(defaults.localMaxNodes, null);
    const config = loadBrokerConfig({
      env: { GEARTIDE_HOME: homeWith('AUTOSCALE_PROVIDER="local"\nAUTOSCALE_POOLS="small@east min=2 max=20 ; small@west ; medium max-active-gears=20"\nAUTOSCALE_MAX_NODES="4"\nLOCAL_MAX_NODES="3"\n') },
    }).autoscale;
    assert.equal(config.provider, 'local');
    assert.equal(config.localMaxNodes, 3);
    assert.deepEqual(config.pools, [
      { name: 'small@east', gearProfile: 'small', district: 'east', minNodes: 2, maxNodes: 20, maxActiveGears: 50, flavor: null },
      { name: 'small@west', gearProfile: 'small', district: 'west', minNodes: 1, maxNodes: 4, maxActiveGears: 50, flavor: null },
      { name: 'medium', gearProfile: 'medium', district: null, minNodes: 1, maxNodes: 4, maxActiveGears: 20, flavor: null },
    ]);
  });

  it('reads the OpenStack keys for an openstack provider, a flavor per pool, and names what is missing', () => {
    const load = (text: string) => loadBrokerConfig({ env: { GEARTIDE_HOME: homeWith(text) } }).autoscale;
    const config = load(
      'AUTOSCALE_PROVIDER="openstack-nova"\nAUTOSCALE_POOLS="small; medium flavor=m1.large"\nOPENSTACK_CLOUD="prod"\nOPENSTACK_FLAVOR="m1.gear"\nOPENSTACK_IMAGE="geartide-node"\nOPENSTACK_NETWORKS="Tenant Net1,ext"\nOPENSTACK_SECURITY_GROUPS="default, geartide-node"\n'.replace('Tenant Net1', 'tenant-net1'),
    );
    assert.equal(config.provider, 'openstack-nova');
    assert.deepEqual(config.pools.map((pool) => pool.flavor), [null, 'm1.large']);
    assert.deepEqual(
      { ...config.openstack },
      {
        cloud: 'prod',
        flavor: 'm1.gear',
        image: 'geartide-node',
        networks: ['tenant-net1', 'ext'],
        keyName: null,
        securityGroups: ['default', 'geartide-node'],
        serverGroup: null,
        availabilityZone: null,
        namePrefix: 'gt-',
        heatTemplate: null,
        nodeBrokerUrl: null,
        timeoutSeconds: 30,
        deleteTimeoutSeconds: 600,
      },
    );
    assert.equal(load('AUTOSCALE_PROVIDER="openstack-heat"\nOPENSTACK_FLAVOR="f"\nOPENSTACK_IMAGE="i"\nOPENSTACK_NETWORKS="none"\n').openstack!.networks, 'none');
    const fails = (text: string, key: string, pattern: RegExp) =>
      assert.throws(() => load(text), (error: Error & { field?: string }) => {
        assert.equal(error.field, key);
        assert.match(error.message, pattern);
        return true;
      });
    fails('AUTOSCALE_PROVIDER="openstack-nova"\nOPENSTACK_IMAGE="i"\nAUTOSCALE_POOLS="small; medium flavor=m1.large"\n', 'OPENSTACK_FLAVOR', /needs OPENSTACK_FLAVOR.*pool small/);
    fails('AUTOSCALE_PROVIDER="openstack-nova"\nOPENSTACK_FLAVOR="f"\n', 'OPENSTACK_IMAGE', /needs OPENSTACK_IMAGE/);
    fails('AUTOSCALE_PROVIDER="openstack-nova"\nOPENSTACK_FLAVOR="f"\nOPENSTACK_IMAGE="i"\nOPENSTACK_NETWORKS="none,net"\n', 'OPENSTACK_NETWORKS', /'none' cannot be combined/);
    fails('AUTOSCALE_PROVIDER="openstack-heat"\nOPENSTACK_FLAVOR="f"\nOPENSTACK_IMAGE="i"\nOPENSTACK_HEAT_TEMPLATE="/no/such.yaml"\n', 'OPENSTACK_HEAT_TEMPLATE', /does not exist/);
    fails('AUTOSCALE_PROVIDER="openstack-nova"\nOPENSTACK_FLAVOR="f"\nOPENSTACK_IMAGE="i"\nOPENSTACK_NAME_PREFIX="Bad_Prefix"\n', 'OPENSTACK_NAME_PREFIX', /lowercase/);
    fails('AUTOSCALE_PROVIDER="openstack"\n', 'AUTOSCALE_PROVIDER', /one of none, local, openstack-nova, openstack-heat/);
  });

  it('never repeats a datastore password in its messages', () => {
    assert.equal(redactUrl('postgres://geartide:s3cret@db:5432/geartide'), 'postgres://geartide:***@db:5432/geartide');
    assert.throws(() => loadBrokerConfig({ env: { GEARTIDE_HOME: homeWith(), DATASTORE_URL: 'mysql://u:s3cret@h/db' } }), (error: Error) => !error.message.includes('s3cret'));
  });

  it('parses escaped quotes inside double quotes', () => {
    assert.equal(parseBrokerConf('A="say \\"hi\\""\n', 'test').get('A'), 'say "hi"');
  });

  it('is documented key by key in docs/broker-conf.md, exactly as the code declares them', () => {
    const docs = readFileSync(new URL('../../docs/broker-conf.md', import.meta.url), 'utf8');
    assert.ok(docs.includes(brokerConfReference()), 'docs/broker-conf.md is stale: regenerate it with `npx geartide broker --print-config-reference`');
    for (const key of Object.keys(BROKER_CONF_KEYS)) assert.ok(docs.includes(`\`${key}\``), `${key} is not documented`);
  });
});
