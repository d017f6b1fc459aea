import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { ConfigError } from '../core/errors.ts';

/**
 * broker.conf: `KEY="value"` lines as OpenShift's /etc/openshift/broker.conf, `#` comments.
 * Every key is declared once below with its default and its documentation; docs/broker-conf.md
 * is generated from this table (`geartide broker --print-config-reference`) so the two cannot
 * drift. An environment variable of the same name overrides the file. An unknown key or a bad
 * value stops the broker with the key's name: a typo silently falling back to a default is how
 * a platform ends up with settings nobody chose.
 */

type Kind = 'string' | 'integer' | 'url' | 'list' | 'secret' | 'enum';

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
  return resolveBrokerConfig(raw, home);
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

function resolveBrokerConfig(raw: ReadonlyMap<string, string>, home: string): BrokerConfig {
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
  };
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
