import type { Logger } from 'pino';

import { ConfigError } from '../core/errors.ts';
import { LocalProvider } from '../providers/local/local-provider.ts';
import { resolveCloudConfig } from '../providers/openstack/cloud-config.ts';
import { HeatProvider } from '../providers/openstack/heat-provider.ts';
import { NovaProvider } from '../providers/openstack/nova-provider.ts';
import { OpenStackClient } from '../providers/openstack/openstack-client.ts';
import type { Provider } from '../providers/provider.ts';
import { redactUrl, rereadBrokerConfig, type BrokerConfig, type OpenStackConfig, type PoolConfig } from './broker-config.ts';

/** The provider of the default pool keeps the names and state file `geartide up` always used. */
const DEFAULT_PREFIX = 'local-node-';

export interface PoolProviderOptions {
  /** The URL node agents reach the broker at. */
  readonly brokerUrl: string;
  /** Extra environment for local node agents (tests shorten their intervals with it). */
  readonly agentEnv?: NodeJS.ProcessEnv;
  readonly log: Logger;
}

/**
 * One provider per pool, as AUTOSCALE_PROVIDER says; empty when it is `none`. Local providers
 * resume the hosts an earlier run recorded (adopting live agents) before they are returned.
 */
export async function createPoolProviders(config: BrokerConfig, options: PoolProviderOptions): Promise<Map<string, Provider>> {
  const providers = new Map<string, Provider>();
  const { autoscale } = config;
  if (autoscale.provider === 'none') return providers;
  if (config.nodeBootstrapToken === undefined) {
    throw new ConfigError(`AUTOSCALE_PROVIDER=${autoscale.provider} starts node agents, which need NODE_BOOTSTRAP_TOKEN to register; set it`, 'NODE_BOOTSTRAP_TOKEN');
  }
  if (autoscale.openstack !== null) return createOpenStackProviders(config, autoscale.openstack, options);
  let lastLimit = autoscale.localMaxNodes;
  // Re-read on every headroom() call, as a cloud's quota is: raising LOCAL_MAX_NODES in
  // broker.conf lets an exhausted pool recover without a restart. A file broken meanwhile
  // keeps the last good value (and says so).
  const localMaxNodes = (): number | null => {
    try {
      lastLimit = rereadBrokerConfig(config).autoscale.localMaxNodes;
    } catch (error) {
      options.log.warn({ err: error }, 'broker.conf could not be re-read for LOCAL_MAX_NODES; keeping the last value');
    }
    return lastLimit;
  };
  for (const pool of autoscale.pools) {
    const isDefault = pool.gearProfile === config.defaultGearSize && pool.district === null;
    const provider = new LocalProvider({
      home: config.home,
      brokerUrl: options.brokerUrl,
      bootstrapToken: config.nodeBootstrapToken,
      gearProfile: pool.gearProfile,
      maxActiveGears: pool.maxActiveGears,
      namePrefix: isDefault ? DEFAULT_PREFIX : `local-${poolSlug(pool)}-node-`,
      stateFile: isDefault ? 'local-provider.json' : `local-provider-${poolSlug(pool)}.json`,
      maxNodes: localMaxNodes,
      bootDelayMs: autoscale.localBootDelaySeconds * 1000,
      ...(options.agentEnv ? { agentEnv: options.agentEnv } : {}),
    });
    await provider.resume();
    providers.set(pool.name, provider);
  }
  return providers;
}

/**
 * One provider per pool on the configured OpenStack cloud, each with a client of its own (a
 * token per pool is cheap, and one pool's failing calls do not queue another's).
 */
function createOpenStackProviders(config: BrokerConfig, openstack: OpenStackConfig, options: PoolProviderOptions): Map<string, Provider> {
  const cloud = resolveCloudConfig(openstack.cloud);
  // Which file (or the OS_* variables) the cloud came from: the first thing to check when it is the wrong one.
  options.log.info({ cloud: cloud.source, authUrl: redactUrl(cloud.authUrl), region: cloud.regionName, interface: cloud.interface }, 'OpenStack cloud configured');
  const providers = new Map<string, Provider>();
  const brokerUrl = openstack.nodeBrokerUrl ?? options.brokerUrl;
  for (const pool of config.autoscale.pools) {
    const client = new OpenStackClient(cloud, { timeoutMs: openstack.timeoutSeconds * 1000, log: options.log.child({ pool: pool.name }), userAgent: 'geartide-broker' });
    const common = {
      client,
      ownsClient: true,
      pool: poolSlug(pool),
      namePrefix: `${openstack.namePrefix}${poolSlug(pool)}-`,
      server: {
        flavor: pool.flavor ?? openstack.flavor!,
        image: openstack.image,
        networks: openstack.networks,
        keyName: openstack.keyName,
        securityGroups: openstack.securityGroups,
        serverGroup: openstack.serverGroup,
        availabilityZone: openstack.availabilityZone,
      },
      brokerUrl,
      bootstrapToken: config.nodeBootstrapToken!,
      gearProfile: pool.gearProfile,
      maxActiveGears: pool.maxActiveGears,
      deleteTimeoutMs: openstack.deleteTimeoutSeconds * 1000,
      log: options.log.child({ pool: pool.name }),
    };
    providers.set(
      pool.name,
      config.autoscale.provider === 'openstack-heat'
        ? new HeatProvider({ ...common, ...(openstack.heatTemplate !== null ? { template: openstack.heatTemplate } : {}) })
        : new NovaProvider(common),
    );
  }
  return providers;
}

function poolSlug(pool: PoolConfig): string {
  return pool.district === null ? pool.gearProfile : `${pool.gearProfile}-${pool.district}`;
}
