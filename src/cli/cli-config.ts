import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../core/errors.ts';

/** Where the CLI finds the broker, and who it is there. */
export interface CliConfig {
  /** $GEARTIDE_HOME, default ~/.geartide; `geartide up` writes config.json here. */
  readonly home: string;
  readonly configFile: string;
  /** Base URL of the broker (without /api/v1); undefined when neither env nor file names one. */
  readonly brokerUrl: string | undefined;
  readonly routerUrl: string | undefined;
  readonly token: string | undefined;
}

export interface ResolveCliConfigOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Injected by tests; the real one is os.homedir(). */
  readonly homeDirectory?: string;
}

/**
 * Resolve the broker location and token: GEARTIDE_URL / GEARTIDE_TOKEN win over
 * $GEARTIDE_HOME/config.json ({ brokerUrl, routerUrl, token }). A missing file is normal (a fresh
 * machine); a file that is there but unreadable or malformed is an error, because silently
 * ignoring it would send the user's commands to the wrong broker or with no credential.
 */
export function resolveCliConfig(options: ResolveCliConfigOptions = {}): CliConfig {
  const env = options.env ?? process.env;
  const home = resolve(nonEmpty(env.GEARTIDE_HOME) ?? join(options.homeDirectory ?? homedir(), '.geartide'));
  const configFile = join(home, 'config.json');
  const file = readConfigFile(configFile);

  const brokerUrl = nonEmpty(env.GEARTIDE_URL) ?? file.brokerUrl;
  const brokerKey = nonEmpty(env.GEARTIDE_URL) === undefined ? `${configFile}: brokerUrl` : 'GEARTIDE_URL';
  if (brokerUrl !== undefined) checkHttpUrl(brokerUrl, brokerKey);
  if (file.routerUrl !== undefined) checkHttpUrl(file.routerUrl, `${configFile}: routerUrl`);

  return {
    home,
    configFile,
    brokerUrl: brokerUrl === undefined ? undefined : brokerUrl.replace(/\/+$/, ''),
    routerUrl: file.routerUrl,
    token: nonEmpty(env.GEARTIDE_TOKEN) ?? file.token,
  };
}

interface ConfigFileContents {
  brokerUrl?: string;
  routerUrl?: string;
  token?: string;
}

function readConfigFile(path: string): ConfigFileContents {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`, path);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path} is not valid JSON (${(error as Error).message}); fix or remove it`, path);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`${path} must hold a JSON object { "brokerUrl", "routerUrl", "token" }`, path);
  }
  const record = parsed as Record<string, unknown>;
  const contents: ConfigFileContents = {};
  for (const key of ['brokerUrl', 'routerUrl', 'token'] as const) {
    const value = record[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw new ConfigError(`${path}: ${key} must be a string`, key);
    if (value !== '') contents[key] = value;
  }
  return contents;
}

function checkHttpUrl(value: string, key: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${key} is not a URL: '${value}'`, key);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${key} must be an http:// or https:// URL, not '${value}'`, key);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Store `token` in $GEARTIDE_HOME/config.json, keeping the other keys. The file is written
 * owner-only (0600) because it holds a credential.
 */
export function saveCliToken(config: Pick<CliConfig, 'home' | 'configFile'>, token: string): void {
  const current = readConfigFile(config.configFile);
  mkdirSync(config.home, { recursive: true, mode: 0o700 });
  writeFileSync(config.configFile, `${JSON.stringify({ ...current, token }, null, 2)}\n`, { mode: 0o600 });
  // writeFileSync's mode applies only when it creates the file; tighten an existing one too.
  chmodSync(config.configFile, 0o600);
}
