import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { ConfigError } from '../core/errors.ts';
import type { NovaServerSettings } from '../providers/openstack/openstack-pool.ts';

/**
 * broker.conf: `KEY="value"` lines as OpenShift's /etc/openshift/broker.conf, `#` comments.
 * Every key is declared once below with its default and its documentation; docs/broker-conf.md
 * is generated from this table (`geartide broker --print-config-reference`) so the two cannot
 * drift. An environment variable of the same name overrides the file. An unknown key or a bad
 * value stops the broker with the key's name: a typo silently falling back to a default is how
 * a platform ends up with settings nobody chose.
 */

type Kind = 'string' | 'integer' | 'url' | 'list' | 'secret' | 'enum' | 'pools';

interface KeySpec {
  readonly kind: Kind;
  /** The default as it would be written in broker.conf; `undefined`: no default (unset). */
  readonly default: string | undefined;
  readonly doc: string;
  readonly min?: number;
  readonly max?: number;
  readonly values?: readonly string[];
}

export const BROKER_CONF_KEYS = {
  BROKER_HOST: { kind: 'string', default: '127.0.0.1', doc: 'Address the broker listens on.' },
  BROKER_PORT: { kind: 'integer', default: '7480', min: 0, max: 65535, doc: 'TCP port of the REST API (0: any free port).' },
  BROKER_PUBLIC_URL: {
    kind: 'url',
    default: undefined,
    doc: 'URL node agents and the CLI use to reach the broker. Default: http://BROKER_HOST:BROKER_PORT.',
  },
  BROKER_LOG_LEVEL: {
    kind: 'enum',
    default: 'info',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    doc: 'Log level of the broker (pino levels).',
  },
  DATASTORE_URL: {
    kind: 'string',
    default: undefined,
    doc: 'Where the store lives: `postgres://user:password@host:port/db` for production, `sqlite:/path/file.db` for the embedded store. Default: `sqlite:$GEARTIDE_HOME/broker.db`.',
  },
  CLOUD_DOMAIN: { kind: 'string', default: 'localhost', doc: 'Apps answer at `<app>-<domain>.<CLOUD_DOMAIN>`.' },
  ROUTER_PUBLIC_PORT: {
    kind: 'integer',
    default: '80',
    min: 1,
    max: 65535,
    doc: 'Port of the router as users reach it; part of app URLs unless it is 80.',
  },
  NODE_BOOTSTRAP_TOKEN: {
    kind: 'secret',
    default: undefined,
    doc: 'Shared secret a node agent presents to register; registration is refused while unset. At least 16 characters.',
  },
  ROUTER_TOKEN: {
    kind: 'secret',
    default: undefined,
    doc: 'Shared secret routers present to read the route table; routers are refused while unset. At least 16 characters.',
  },
  NODE_HEARTBEAT_INTERVAL: {
    kind: 'integer',
    default: '5',
    min: 1,
    max: 3600,
    doc: 'Seconds between node agent heartbeats (told to each agent when it registers).',
  },
  NODE_LOST_AFTER: {
    kind: 'integer',
    default: '30',
    min: 2,
    max: 86400,
    doc: 'Seconds without a heartbeat after which a node is marked `lost` (with an event).',
  },
  VALID_GEAR_SIZES: { kind: 'list', default: 'small,medium,large', doc: 'Gear profiles (sizes) this platform offers, comma-separated.' },
  DEFAULT_GEAR_SIZE: { kind: 'string', default: 'small', doc: 'Profile of a new app when none is asked for; one of VALID_GEAR_SIZES.' },
  DEFAULT_MAX_GEARS: { kind: 'integer', default: '100', min: 0, max: 1_000_000, doc: 'Gears a new user may own over all its apps.' },
  DISTRICTS_FIRST_UID: { kind: 'integer', default: '1000', min: 1, max: 2_000_000_000, doc: 'First UID of a new district\'s pool.' },
  DISTRICTS_MAX_CAPACITY: { kind: 'integer', default: '6000', min: 1, max: 1_000_000, doc: 'UIDs in a new district\'s pool.' },
  CARTRIDGES: { kind: 'list', default: 'nodejs,static', doc: 'Cartridges apps may be created with, comma-separated.' },
  DRAIN_PARALLELISM: { kind: 'integer', default: '4', min: 1, max: 32, doc: 'Gear moves a drain runs at once (`geartide admin node drain --parallel` overrides it).' },
  DRAIN_DEADLINE: { kind: 'integer', default: '600', min: 10, max: 86400, doc: 'Seconds a drain may take before it stops, rolling back moves that have not switched.' },
  MOVE_COPY_TIMEOUT: {
    kind: 'integer',
    default: '120',
    min: 5,
    max: 86400,
    doc: 'Seconds a gear move may spend copying and starting the target before it rolls back.',
  },
  AUTOSCALE_PROVIDER: {
    kind: 'enum',
    default: 'none',
    values: ['none', 'local', 'openstack-nova', 'openstack-heat'],
    doc: 'Where new node hosts come from: `none` (no autoscaling: node hosts are the operator\'s), `local` (node agents as processes on this machine; what `geartide up` uses), `openstack-nova` (one Nova server per host), `openstack-heat` (one Heat stack per pool, a ResourceGroup of servers). See docs/openstack.md.',
  },
  AUTOSCALE_POOLS: {
    kind: 'pools',
    default: undefined,
    doc: 'The pools the autoscaler manages, `;`-separated, each `PROFILE[@DISTRICT] [min=N] [max=N] [max-active-gears=N] [flavor=NAME]` (e.g. `small min=2 max=20; medium@east max=4 flavor=m1.large`). A pool without a district may put new hosts in any district of its profile. Default: one pool of DEFAULT_GEAR_SIZE with the AUTOSCALE_* defaults.',
  },
  AUTOSCALE_MIN_NODES: { kind: 'integer', default: '1', min: 0, max: 100_000, doc: 'Fewest node hosts of a pool (a pool line\'s `min=` overrides it).' },
  AUTOSCALE_MAX_NODES: { kind: 'integer', default: '10', min: 1, max: 100_000, doc: 'Most node hosts of a pool (a pool line\'s `max=` overrides it).' },
  AUTOSCALE_NODE_MAX_ACTIVE_GEARS: {
    kind: 'integer',
    default: '50',
    min: 1,
    max: 100_000,
    doc: 'max_active_gears of a node host the autoscaler creates (a pool line\'s `max-active-gears=` overrides it).',
  },
  AUTOSCALE_INTERVAL: { kind: 'integer', default: '10', min: 1, max: 3600, doc: 'Seconds between the autoscaler\'s passes (only the leader broker runs them).' },
  SCALE_UP_THRESHOLD: { kind: 'integer', default: '80', min: 1, max: 100, doc: 'Scale a pool up when its active usage reaches this percentage (node-manager\'s PROFILE_THRESHOLD).' },
  SCALE_DOWN_MARGIN: {
    kind: 'integer',
    default: '10',
    min: 0,
    max: 99,
    doc: 'A node is removed only if usage without it stays at or under SCALE_UP_THRESHOLD minus this many points (hysteresis: no flapping).',
  },
  SCALE_DOWN_UNNEEDED_TIME: { kind: 'integer', default: '900', min: 0, max: 86400, doc: 'Seconds a pool must stay under-used before a node is removed.' },
  SCALE_UP_COOLDOWN: { kind: 'integer', default: '60', min: 0, max: 86400, doc: 'Seconds after a scale-up request before another (refused placements and a pool under its minimum do not wait).' },
  SCALE_DOWN_COOLDOWN: { kind: 'integer', default: '300', min: 0, max: 86400, doc: 'Seconds after a scale-down before another.' },
  SCALE_DOWN_DELAY_AFTER_ADD: { kind: 'integer', default: '600', min: 0, max: 86400, doc: 'Seconds after a scale-up request before any scale-down of the pool.' },
  SCALE_UP_MAX_NODES: { kind: 'integer', default: '5', min: 1, max: 1000, doc: 'Most node hosts one scale-up asks for.' },
  PROVISION_TIMEOUT: {
    kind: 'integer',
    default: '900',
    min: 10,
    max: 86400,
    doc: 'Seconds a new node host has to register; one that has not is deleted and the scale-up counts as failed.',
  },
  SCALE_BACKOFF_INITIAL: { kind: 'integer', default: '30', min: 1, max: 86400, doc: 'Seconds a pool waits after a failed scale operation; doubled per consecutive failure.' },
  SCALE_BACKOFF_MAX: { kind: 'integer', default: '600', min: 1, max: 86400, doc: 'Longest wait between retries after failures.' },
  APP_CREATE_WAIT: {
    kind: 'integer',
    default: '120',
    min: 0,
    max: 3600,
    doc: 'Seconds an app create or scale that finds no room waits for the node hosts a scale-up brings (0: refuse at once). A pool whose cloud is exhausted refuses at once.',
  },
  LOCAL_MAX_NODES: {
    kind: 'integer',
    default: undefined,
    min: 0,
    max: 10_000,
    doc: 'Most node hosts the `local` provider runs per pool (its "quota", reported as headroom, so exhaustion can be seen on one machine). Re-read from broker.conf on every pass, as a cloud\'s quota is: raising it needs no restart. Unset: no limit.',
  },
  LOCAL_BOOT_DELAY: { kind: 'integer', default: '0', min: 0, max: 3600, doc: 'Seconds the `local` provider waits before it starts a new node agent (a cloud\'s boot time, for trying the autoscaler).' },
  OPENSTACK_CLOUD: {
    kind: 'string',
    default: undefined,
    doc: 'The cloud of clouds.yaml to use ($OS_CLIENT_CONFIG_FILE, else ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml, each also .yml or .json; the first secure.yaml of $OS_CLIENT_SECURE_FILE and the same places is merged in). Unset: $OS_CLOUD, else the OS_* variables of an openrc.',
  },
  OPENSTACK_FLAVOR: { kind: 'string', default: undefined, doc: 'Flavor (name or id) of new node hosts; a pool line\'s `flavor=` overrides it. Required with an openstack provider.' },
  OPENSTACK_IMAGE: { kind: 'string', default: undefined, doc: 'Image (name or id) of new node hosts: cloud-init, systemd and geartide installed (docs/openstack.md). Required with an openstack provider.' },
  OPENSTACK_NETWORKS: {
    kind: 'list',
    default: 'auto',
    doc: 'Networks (names or ids, comma-separated) new node hosts get a port on; `auto` lets Nova pick, `none` boots without a network (test clouds).',
  },
  OPENSTACK_KEY_NAME: { kind: 'string', default: undefined, doc: 'Nova keypair put on new node hosts (for an operator\'s ssh). Unset: none.' },
  OPENSTACK_SECURITY_GROUPS: { kind: 'list', default: undefined, doc: 'Security groups of new node hosts, comma-separated (they must let the broker and routers reach the agent port 7481 and the gears\' ports). Unset: the project\'s default.' },
  OPENSTACK_SERVER_GROUP: { kind: 'string', default: undefined, doc: 'Server group id new node hosts join (an anti-affinity group keeps a pool\'s hosts on different hypervisors).' },
  OPENSTACK_AVAILABILITY_ZONE: { kind: 'string', default: undefined, doc: 'Availability zone of new node hosts. Unset: Nova\'s choice.' },
  OPENSTACK_NAME_PREFIX: { kind: 'string', default: 'gt-', doc: 'Prefix of node host (server) names; the pool follows it: `gt-small-…`.' },
  OPENSTACK_HEAT_TEMPLATE: {
    kind: 'string',
    default: undefined,
    doc: '`openstack-heat`: an operator\'s stack template that follows geartide\'s contract (docs/openstack.md). Unset: the template geartide ships.',
  },
  OPENSTACK_NODE_BROKER_URL: {
    kind: 'url',
    default: undefined,
    doc: 'URL new node hosts reach the broker at (put in their user-data). Default: BROKER_PUBLIC_URL.',
  },
  OPENSTACK_TIMEOUT: { kind: 'integer', default: '30', min: 1, max: 600, doc: 'Seconds an OpenStack API request may take before it counts as failed (transient failures are retried with backoff).' },
  OPENSTACK_DELETE_TIMEOUT: { kind: 'integer', default: '600', min: 10, max: 86400, doc: 'Seconds a node host deletion may take in the cloud before the scale-down counts as failed and is retried.' },
  API_BODY_LIMIT: {
    kind: 'integer',
    default: '1048576',
    min: 1024,
    max: 1_073_741_824,
    doc: 'Largest JSON request body in bytes; larger ones get 413.',
  },
  SOURCE_UPLOAD_LIMIT: {
    kind: 'integer',
    default: '52428800',
    min: 1024,
    max: 1_073_741_824,
    doc: 'Largest app source upload (`POST /api/v1/sources`, a tar.gz) in bytes; larger ones get 413. Archives are kept in the store.',
  },
} as const satisfies Record<string, KeySpec>;

export type BrokerConfKey = keyof typeof BROKER_CONF_KEYS;

export interface BrokerConfig {
  readonly home: string;
  readonly host: string;
  readonly port: number;
  readonly publicUrl: string | undefined;
  readonly logLevel: string;
  readonly datastoreUrl: string;
  readonly cloudDomain: string;
  readonly routerPublicPort: number;
  readonly nodeBootstrapToken: string | undefined;
  readonly routerToken: string | undefined;
  readonly nodeHeartbeatIntervalSeconds: number;
  readonly nodeLostAfterSeconds: number;
  readonly validGearSizes: readonly string[];
  readonly defaultGearSize: string;
  readonly defaultMaxGears: number;
  readonly districtsFirstUid: number;
  readonly districtsMaxCapacity: number;
  readonly cartridges: readonly string[];
  readonly apiBodyLimit: number;
  readonly drainParallel: number;
  readonly drainDeadlineSeconds: number;
  readonly moveCopyTimeoutSeconds: number;
  readonly sourceUploadLimit: number;
  readonly autoscale: AutoscaleConfig;
  /** How this config was loaded, so a setting the broker re-reads live (LOCAL_MAX_NODES) can be. */
  readonly source: LoadBrokerConfigOptions;
}

/** One pool of node hosts the autoscaler manages (AUTOSCALE_POOLS). */
export interface PoolConfig {
  /** `PROFILE` or `PROFILE@DISTRICT`. */
  readonly name: string;
  readonly gearProfile: string;
  readonly district: string | null;
  readonly minNodes: number;
  readonly maxNodes: number;
  readonly maxActiveGears: number;
  /** The pool's flavor (`flavor=`), or null for OPENSTACK_FLAVOR. */
  readonly flavor: string | null;
}

/** The OPENSTACK_* keys, read when AUTOSCALE_PROVIDER is an openstack one. */
export interface OpenStackConfig extends Omit<NovaServerSettings, 'flavor'> {
  readonly cloud: string | null;
  /** The default flavor (a pool's `flavor=` overrides it); null when every pool names one. */
  readonly flavor: string | null;
  readonly namePrefix: string;
  readonly heatTemplate: string | null;
  readonly nodeBrokerUrl: string | null;
  readonly timeoutSeconds: number;
  readonly deleteTimeoutSeconds: number;
}

export interface AutoscaleConfig {
  readonly provider: 'none' | 'local' | 'openstack-nova' | 'openstack-heat';
  /** Set when the provider is an openstack one. */
  readonly openstack: OpenStackConfig | null;
  readonly pools: readonly PoolConfig[];
  readonly intervalSeconds: number;
  readonly upThresholdPct: number;
  readonly downMarginPct: number;
  readonly unneededTimeSeconds: number;
  readonly scaleUpCooldownSeconds: number;
  readonly scaleDownCooldownSeconds: number;
  readonly delayAfterAddSeconds: number;
  readonly maxNodesPerScaleUp: number;
  readonly provisionTimeoutSeconds: number;
  readonly backoffInitialSeconds: number;
  readonly backoffMaxSeconds: number;
  readonly appCreateWaitSeconds: number;
  readonly localMaxNodes: number | null;
  readonly localBootDelaySeconds: number;
}

export function geartideHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.GEARTIDE_HOME ?? join(homedir(), '.geartide'));
}

/** Parses broker.conf text into raw values. `source` names the file in errors. */
export function parseBrokerConf(text: string, source: string): Map<string, string> {
  const values = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) {
      throw new ConfigError(`${source}:${index + 1}: expected KEY="value", got '${line}'`, `line ${index + 1}`);
    }
    const key = match[1]!;
    let value = match[2]!.trim();
    const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(value) ?? /^'([^']*)'$/.exec(value);
    if (quoted) value = quoted[1]!.replace(/\\(["\\])/g, '$1');
    else if (value.startsWith('"') || value.startsWith("'")) {
      throw new ConfigError(`${source}:${index + 1}: ${key} has an unterminated quote`, key);
    }
    values.set(key, value);
  }
  return values;
}

export interface LoadBrokerConfigOptions {
  /** Path given with --config; when absent, $GEARTIDE_HOME/broker.conf if it exists. */
  readonly configPath?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Values that beat the file but lose to the environment (what `geartide up` decides). */
  readonly defaults?: Partial<Record<BrokerConfKey, string>>;
}

export function loadBrokerConfig(options: LoadBrokerConfigOptions = {}): BrokerConfig {
  const env = options.env ?? process.env;
  const home = geartideHome(env);
  const raw = new Map<string, string>();
  for (const [key, value] of Object.entries(options.defaults ?? {})) if (value !== undefined) raw.set(key, value);

  const path = options.configPath ?? join(home, 'broker.conf');
  if (options.configPath !== undefined && !existsSync(path)) {
    throw new ConfigError(`config file ${path} does not exist`, '--config');
  }
  if (existsSync(path)) {
    for (const [key, value] of parseBrokerConf(readFileSync(path, 'utf8'), path)) {
      if (!(key in BROKER_CONF_KEYS)) throw new ConfigError(`${path}: unknown key ${key}${suggestKey(key)}`, key);
      raw.set(key, value);
    }
  }
  for (const key of Object.keys(BROKER_CONF_KEYS)) {
    const value = env[key];
    if (value !== undefined) raw.set(key, value);
  }
  return { ...resolveBrokerConfig(raw, home), source: { ...options, env } };
}

/**
 * The same sources read again (the file may have changed). Throws ConfigError as at start; the
 * caller of a live setting keeps its last good value then.
 */
export function rereadBrokerConfig(config: Pick<BrokerConfig, 'source'>): BrokerConfig {
  return loadBrokerConfig(config.source);
}

function suggestKey(key: string): string {
  const known = Object.keys(BROKER_CONF_KEYS);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(key.toUpperCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= 3 ? ` (did you mean ${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function resolveBrokerConfig(raw: ReadonlyMap<string, string>, home: string): Omit<BrokerConfig, 'source'> {
  const get = (key: BrokerConfKey): string | undefined => raw.get(key) ?? BROKER_CONF_KEYS[key].default;
  const integer = (key: BrokerConfKey): number => {
    const spec: KeySpec = BROKER_CONF_KEYS[key];
    const text = get(key)!;
    if (!/^-?\d+$/.test(text)) throw new ConfigError(`${key} must be an integer, got '${text}'`, key);
    const value = Number(text);
    if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
      throw new ConfigError(`${key} must be between ${spec.min} and ${spec.max}, got ${value}`, key);
    }
    return value;
  };
  const list = (key: BrokerConfKey): string[] => {
    const items = get(key)!
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
    if (items.length === 0) throw new ConfigError(`${key} must list at least one value`, key);
    for (const item of items) {
      if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(item)) throw new ConfigError(`${key}: '${item}' is not a valid name (lower-case letters, digits, - and _)`, key);
    }
    return items;
  };
  const nonEmpty = (key: BrokerConfKey): string => {
    const value = get(key)!;
    if (value.trim() === '') throw new ConfigError(`${key} must not be empty`, key);
    return value;
  };

  const logLevel = get('BROKER_LOG_LEVEL')!;
  if (!BROKER_CONF_KEYS.BROKER_LOG_LEVEL.values.includes(logLevel as never)) {
    throw new ConfigError(`BROKER_LOG_LEVEL must be one of ${BROKER_CONF_KEYS.BROKER_LOG_LEVEL.values.join(', ')}, got '${logLevel}'`, 'BROKER_LOG_LEVEL');
  }

  const publicUrl = get('BROKER_PUBLIC_URL');
  if (publicUrl !== undefined && publicUrl !== '') checkHttpUrl(publicUrl, 'BROKER_PUBLIC_URL');

  const datastoreUrl = get('DATASTORE_URL') || `sqlite:${join(home, 'broker.db')}`;
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(datastoreUrl)) {
    throw new ConfigError(`DATASTORE_URL must start with sqlite: or postgres://, got '${redactUrl(datastoreUrl)}'`, 'DATASTORE_URL');
  }

  const cloudDomain = nonEmpty('CLOUD_DOMAIN');
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(cloudDomain)) {
    throw new ConfigError(`CLOUD_DOMAIN must be a DNS name, got '${cloudDomain}'`, 'CLOUD_DOMAIN');
  }

  const secret = (key: 'NODE_BOOTSTRAP_TOKEN' | 'ROUTER_TOKEN'): string | undefined => {
    const value = get(key);
    if (value === undefined || value === '') return undefined;
    if (value.length < 16) throw new ConfigError(`${key} must be at least 16 characters`, key);
    return value;
  };
  const bootstrap = secret('NODE_BOOTSTRAP_TOKEN');
  const routerToken = secret('ROUTER_TOKEN');
  if (bootstrap !== undefined && bootstrap === routerToken) {
    throw new ConfigError('ROUTER_TOKEN must differ from NODE_BOOTSTRAP_TOKEN: each grants different rights', 'ROUTER_TOKEN');
  }

  const validGearSizes = list('VALID_GEAR_SIZES');
  const defaultGearSize = nonEmpty('DEFAULT_GEAR_SIZE');
  if (!validGearSizes.includes(defaultGearSize)) {
    throw new ConfigError(`DEFAULT_GEAR_SIZE '${defaultGearSize}' is not one of VALID_GEAR_SIZES (${validGearSizes.join(', ')})`, 'DEFAULT_GEAR_SIZE');
  }

  const autoscale = resolveAutoscale(get, integer, validGearSizes, defaultGearSize);

  const heartbeat = integer('NODE_HEARTBEAT_INTERVAL');
  const lostAfter = integer('NODE_LOST_AFTER');
  if (lostAfter <= heartbeat) {
    throw new ConfigError(`NODE_LOST_AFTER (${lostAfter}) must be longer than NODE_HEARTBEAT_INTERVAL (${heartbeat})`, 'NODE_LOST_AFTER');
  }

  return {
    home,
    host: nonEmpty('BROKER_HOST'),
    port: integer('BROKER_PORT'),
    publicUrl: publicUrl === '' ? undefined : publicUrl,
    logLevel,
    datastoreUrl,
    cloudDomain,
    routerPublicPort: integer('ROUTER_PUBLIC_PORT'),
    nodeBootstrapToken: bootstrap,
    routerToken,
    nodeHeartbeatIntervalSeconds: heartbeat,
    nodeLostAfterSeconds: lostAfter,
    validGearSizes,
    defaultGearSize,
    defaultMaxGears: integer('DEFAULT_MAX_GEARS'),
    districtsFirstUid: integer('DISTRICTS_FIRST_UID'),
    districtsMaxCapacity: integer('DISTRICTS_MAX_CAPACITY'),
    cartridges: list('CARTRIDGES'),
    apiBodyLimit: integer('API_BODY_LIMIT'),
    drainParallel: integer('DRAIN_PARALLELISM'),
    drainDeadlineSeconds: integer('DRAIN_DEADLINE'),
    moveCopyTimeoutSeconds: integer('MOVE_COPY_TIMEOUT'),
    sourceUploadLimit: integer('SOURCE_UPLOAD_LIMIT'),
    autoscale,
  };
}

function resolveAutoscale(
  get: (key: BrokerConfKey) => string | undefined,
  integer: (key: BrokerConfKey) => number,
  validGearSizes: readonly string[],
  defaultGearSize: string,
): AutoscaleConfig {
  const provider = get('AUTOSCALE_PROVIDER')!;
  const providers = BROKER_CONF_KEYS.AUTOSCALE_PROVIDER.values;
  if (!providers.includes(provider as never)) throw new ConfigError(`AUTOSCALE_PROVIDER must be one of ${providers.join(', ')}, got '${provider}'`, 'AUTOSCALE_PROVIDER');
  const defaults = { minNodes: integer('AUTOSCALE_MIN_NODES'), maxNodes: integer('AUTOSCALE_MAX_NODES'), maxActiveGears: integer('AUTOSCALE_NODE_MAX_ACTIVE_GEARS') };
  const poolsText = get('AUTOSCALE_POOLS');
  const pools = parsePools(poolsText === undefined || poolsText.trim() === '' ? defaultGearSize : poolsText, defaults, validGearSizes);
  const upThresholdPct = integer('SCALE_UP_THRESHOLD');
  const downMarginPct = integer('SCALE_DOWN_MARGIN');
  if (downMarginPct >= upThresholdPct) {
    throw new ConfigError(`SCALE_DOWN_MARGIN (${downMarginPct}) must be below SCALE_UP_THRESHOLD (${upThresholdPct}), or no node could ever be removed`, 'SCALE_DOWN_MARGIN');
  }
  const backoffInitialSeconds = integer('SCALE_BACKOFF_INITIAL');
  const backoffMaxSeconds = integer('SCALE_BACKOFF_MAX');
  if (backoffMaxSeconds < backoffInitialSeconds) {
    throw new ConfigError(`SCALE_BACKOFF_MAX (${backoffMaxSeconds}) must be at least SCALE_BACKOFF_INITIAL (${backoffInitialSeconds})`, 'SCALE_BACKOFF_MAX');
  }
  const localMax = get('LOCAL_MAX_NODES');
  const openstack = provider.startsWith('openstack-') ? resolveOpenStack(get, integer, pools) : null;
  return {
    provider: provider as AutoscaleConfig['provider'],
    openstack,
    pools,
    intervalSeconds: integer('AUTOSCALE_INTERVAL'),
    upThresholdPct,
    downMarginPct,
    unneededTimeSeconds: integer('SCALE_DOWN_UNNEEDED_TIME'),
    scaleUpCooldownSeconds: integer('SCALE_UP_COOLDOWN'),
    scaleDownCooldownSeconds: integer('SCALE_DOWN_COOLDOWN'),
    delayAfterAddSeconds: integer('SCALE_DOWN_DELAY_AFTER_ADD'),
    maxNodesPerScaleUp: integer('SCALE_UP_MAX_NODES'),
    provisionTimeoutSeconds: integer('PROVISION_TIMEOUT'),
    backoffInitialSeconds,
    backoffMaxSeconds,
    appCreateWaitSeconds: integer('APP_CREATE_WAIT'),
    localMaxNodes: localMax === undefined || localMax === '' ? null : integer('LOCAL_MAX_NODES'),
    localBootDelaySeconds: integer('LOCAL_BOOT_DELAY'),
  };
}

function resolveOpenStack(
  get: (key: BrokerConfKey) => string | undefined,
  integer: (key: BrokerConfKey) => number,
  pools: readonly PoolConfig[],
): OpenStackConfig {
  const text = (key: BrokerConfKey): string | null => {
    const value = get(key)?.trim();
    return value === undefined || value === '' ? null : value;
  };
  // Cloud names (networks, security groups) are the cloud's: any case, spaces excluded.
  const list = (key: BrokerConfKey): string[] => {
    const items = (text(key) ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
    const bad = items.find((item) => /\s/.test(item));
    if (bad !== undefined) throw new ConfigError(`${key}: '${bad}' has a space; separate names with commas`, key);
    return items;
  };
  const provider = get('AUTOSCALE_PROVIDER');
  const flavor = text('OPENSTACK_FLAVOR');
  const withoutFlavor = pools.filter((pool) => pool.flavor === null);
  if (flavor === null && withoutFlavor.length > 0) {
    throw new ConfigError(`AUTOSCALE_PROVIDER=${provider} needs OPENSTACK_FLAVOR (or \`flavor=\` on pool ${withoutFlavor.map((pool) => pool.name).join(', ')} in AUTOSCALE_POOLS)`, 'OPENSTACK_FLAVOR');
  }
  const image = text('OPENSTACK_IMAGE');
  if (image === null) throw new ConfigError(`AUTOSCALE_PROVIDER=${provider} needs OPENSTACK_IMAGE: the image new node hosts boot (docs/openstack.md says what it must contain)`, 'OPENSTACK_IMAGE');
  const networks = list('OPENSTACK_NETWORKS');
  if (networks.length === 0) throw new ConfigError('OPENSTACK_NETWORKS must name networks, or be auto or none', 'OPENSTACK_NETWORKS');
  const special = networks.find((each) => each === 'none' || each === 'auto');
  if (special !== undefined && networks.length > 1) throw new ConfigError(`OPENSTACK_NETWORKS: '${special}' cannot be combined with other networks`, 'OPENSTACK_NETWORKS');
  const prefix = text('OPENSTACK_NAME_PREFIX') ?? 'gt-';
  if (!/^[a-z0-9][a-z0-9-]{0,19}$/.test(prefix)) throw new ConfigError(`OPENSTACK_NAME_PREFIX '${prefix}' must be up to 20 lowercase letters, digits or '-' (it begins host names)`, 'OPENSTACK_NAME_PREFIX');
  const template = text('OPENSTACK_HEAT_TEMPLATE');
  if (template !== null && !existsSync(template)) throw new ConfigError(`OPENSTACK_HEAT_TEMPLATE: ${template} does not exist`, 'OPENSTACK_HEAT_TEMPLATE');
  return {
    cloud: text('OPENSTACK_CLOUD'),
    flavor,
    image,
    networks: special !== undefined ? (special as 'none' | 'auto') : networks,
    keyName: text('OPENSTACK_KEY_NAME'),
    securityGroups: list('OPENSTACK_SECURITY_GROUPS'),
    serverGroup: text('OPENSTACK_SERVER_GROUP'),
    availabilityZone: text('OPENSTACK_AVAILABILITY_ZONE'),
    namePrefix: prefix,
    heatTemplate: template,
    nodeBrokerUrl: text('OPENSTACK_NODE_BROKER_URL'),
    timeoutSeconds: integer('OPENSTACK_TIMEOUT'),
    deleteTimeoutSeconds: integer('OPENSTACK_DELETE_TIMEOUT'),
  };
}

const POOL_ATTRIBUTES = { min: 'minNodes', max: 'maxNodes', 'max-active-gears': 'maxActiveGears' } as const;

/**
 * `small min=2 max=20; medium@east max=4` → pools. Every mistake names AUTOSCALE_POOLS and the
 * pool: an unknown attribute is an error, never ignored, so a typo cannot leave a pool unbounded.
 */
export function parsePools(text: string, defaults: { minNodes: number; maxNodes: number; maxActiveGears: number }, validGearSizes: readonly string[]): PoolConfig[] {
  const key = 'AUTOSCALE_POOLS';
  const pools: PoolConfig[] = [];
  for (const entry of text.split(';').map((each) => each.trim()).filter((each) => each !== '')) {
    const [head, ...attributes] = entry.split(/\s+/);
    const match = /^([a-z0-9][a-z0-9_-]{0,31})(?:@([a-z0-9][a-z0-9_-]{0,31}))?$/.exec(head!);
    if (!match) throw new ConfigError(`${key}: '${head}' is not PROFILE or PROFILE@DISTRICT`, key);
    const [, gearProfile, district] = match;
    if (!validGearSizes.includes(gearProfile!)) throw new ConfigError(`${key}: pool ${head}: profile '${gearProfile}' is not one of VALID_GEAR_SIZES (${validGearSizes.join(', ')})`, key);
    const values: { minNodes: number; maxNodes: number; maxActiveGears: number } = { ...defaults };
    let flavor: string | null = null;
    for (const attribute of attributes) {
      const flavorPair = /^flavor=(\S+)$/.exec(attribute);
      if (flavorPair) {
        flavor = flavorPair[1]!;
        continue;
      }
      const pair = /^([a-z-]+)=(\d+)$/.exec(attribute);
      const field = pair ? POOL_ATTRIBUTES[pair[1] as keyof typeof POOL_ATTRIBUTES] : undefined;
      if (!pair || field === undefined) {
        throw new ConfigError(`${key}: pool ${head}: '${attribute}' is not one of ${Object.keys(POOL_ATTRIBUTES).map((name) => `${name}=N`).join(', ')}, flavor=NAME`, key);
      }
      values[field] = Number(pair[2]);
    }
    if (values.maxNodes < 1) throw new ConfigError(`${key}: pool ${head}: max must be at least 1`, key);
    if (values.minNodes > values.maxNodes) throw new ConfigError(`${key}: pool ${head}: min (${values.minNodes}) is above max (${values.maxNodes})`, key);
    if (values.maxActiveGears < 1) throw new ConfigError(`${key}: pool ${head}: max-active-gears must be at least 1`, key);
    if (pools.some((pool) => pool.name === head)) throw new ConfigError(`${key}: pool ${head} is listed twice`, key);
    // A profile-wide pool and a district pool of the same profile would both count the same nodes.
    const overlap = pools.find((pool) => pool.gearProfile === gearProfile && (pool.district === null || district === undefined));
    if (overlap) throw new ConfigError(`${key}: pools ${overlap.name} and ${head} would manage the same node hosts; give either one pool for profile ${gearProfile} or one per district`, key);
    pools.push({ name: head!, gearProfile: gearProfile!, district: district ?? null, ...values, flavor });
  }
  if (pools.length === 0) throw new ConfigError(`${key} must name at least one pool`, key);
  return pools;
}

function checkHttpUrl(value: string, key: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${key} must be an http(s) URL, got '${value}'`, key);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${key} must be an http(s) URL, got '${value}'`, key);
}

/** A datastore URL with its password replaced, for messages and logs. */
export function redactUrl(value: string): string {
  return value.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}

/** The reference table of every key, as Markdown (docs/broker-conf.md is this output). */
export function brokerConfReference(): string {
  const rows = Object.entries(BROKER_CONF_KEYS).map(([key, spec]: [string, KeySpec]) => {
    const def = spec.default === undefined ? '(unset)' : `\`${spec.default}\``;
    const range = spec.min !== undefined ? ` Range ${spec.min}–${spec.max}.` : '';
    return `| \`${key}\` | ${def} | ${spec.doc}${range} |`;
  });
  return ['| key | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
