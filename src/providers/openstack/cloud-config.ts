import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { parse as parseYaml } from 'yaml';

import { ConfigError } from '../../core/errors.ts';

/**
 * Where an OpenStack cloud is and who we are in it, resolved by the conventions every OpenStack
 * tool follows (openstacksdk's os-client-config): a named cloud from `clouds.yaml` (merged with
 * `secure.yaml`), or else the `OS_*` variables of an openrc.
 */
export interface CloudConfig {
  /** Where it came from, for messages: `clouds.yaml cloud 'x' (path)` or `OS_* variables`. */
  readonly source: string;
  readonly authUrl: string;
  readonly auth: PasswordAuth | ApplicationCredentialAuth;
  readonly regionName: string | null;
  /** Endpoint interface to use from the catalog: public (default), internal or admin. */
  readonly interface: 'public' | 'internal' | 'admin';
  /** A CA bundle (PEM file) to trust, or null for the system's. */
  readonly caFile: string | null;
  /** false only when clouds.yaml says `verify: false` (test clouds). */
  readonly verify: boolean;
  /**
   * clouds.yaml's `<service type>_endpoint_override` (e.g. `compute_endpoint_override`): a URL
   * used instead of the catalog's, `%(project_id)s` replaced by the token's project.
   */
  readonly endpointOverrides: Readonly<Record<string, string>>;
}

export interface PasswordAuth {
  readonly type: 'password';
  readonly username?: string;
  readonly userId?: string;
  readonly password: string;
  readonly userDomainName?: string;
  readonly userDomainId?: string;
  readonly projectName?: string;
  readonly projectId?: string;
  readonly projectDomainName?: string;
  readonly projectDomainId?: string;
}

export interface ApplicationCredentialAuth {
  readonly type: 'application-credential';
  readonly id?: string;
  readonly name?: string;
  readonly secret: string;
  /** Needed with `name` (application credential names are per user). */
  readonly username?: string;
  readonly userId?: string;
  readonly userDomainName?: string;
  readonly userDomainId?: string;
}

/**
 * The directories clouds.yaml and secure.yaml are looked for in, in order, as openstacksdk does:
 * the working directory, the user's config directory ($XDG_CONFIG_HOME, and ~/.config), then
 * /etc/openstack.
 */
export function cloudConfigDirectories(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  const home = env.HOME ?? homedir();
  const user = join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'openstack');
  const dotConfig = join(home, '.config', 'openstack');
  return [cwd, user, ...(dotConfig === user ? [] : [dotConfig]), '/etc/openstack'];
}

/** Each name is looked for with these endings, in this order (JSON is YAML too). */
const CONFIG_FILE_ENDINGS = ['.yaml', '.yml', '.json'];

/**
 * The clouds.yaml files searched, in order; the first that can be read wins.
 * `$OS_CLIENT_CONFIG_FILE` goes first, before the usual places rather than instead of them.
 */
export function cloudsYamlPaths(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  return configFilePaths('clouds', env.OS_CLIENT_CONFIG_FILE, env, cwd);
}

/**
 * The secure.yaml files searched, in order, `$OS_CLIENT_SECURE_FILE` first. The first that can
 * be read is merged over clouds.yaml, wherever each was found.
 */
export function secureYamlPaths(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  return configFilePaths('secure', env.OS_CLIENT_SECURE_FILE, env, cwd);
}

function configFilePaths(name: string, override: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string[] {
  const usual = cloudConfigDirectories(env, cwd).flatMap((directory) => CONFIG_FILE_ENDINGS.map((ending) => join(directory, `${name}${ending}`)));
  return override ? [override, ...usual] : usual;
}

/** The first of `paths` that exists and may be read (one this user may not read is passed over). */
function firstReadable(paths: readonly string[]): { path: string; text: string } | undefined {
  for (const path of paths) {
    try {
      return { path, text: readFileSync(path, 'utf8') };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR' || code === 'EISDIR') continue;
      throw new ConfigError(`cannot read ${path}: ${code ?? String(error)}`, 'OPENSTACK_CLOUD');
    }
  }
  return undefined;
}

/**
 * The cloud to use: `cloudName` (the broker.conf key OPENSTACK_CLOUD, or `OS_CLOUD`) from
 * clouds.yaml, or, with no name, the `OS_*` variables. Errors name the file, the cloud and the
 * key that is missing; they never contain a password or secret.
 */
export function resolveCloudConfig(cloudName: string | null, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): CloudConfig {
  const name = cloudName ?? (env.OS_CLOUD || null);
  if (name !== null) return fromCloudsYaml(name, env, cwd);
  if (!env.OS_AUTH_URL) {
    throw new ConfigError('no OpenStack cloud configured: set OPENSTACK_CLOUD in broker.conf (or OS_CLOUD) to a cloud of clouds.yaml, or the OS_* variables of an openrc (OS_AUTH_URL is not set)', 'OPENSTACK_CLOUD');
  }
  return fromEntry('OS_* variables', envEntry(env), 'OS_');
}

function fromCloudsYaml(name: string, env: NodeJS.ProcessEnv, cwd: string): CloudConfig {
  const found = firstReadable(cloudsYamlPaths(env, cwd));
  if (found === undefined) {
    const override = env.OS_CLIENT_CONFIG_FILE ? `$OS_CLIENT_CONFIG_FILE (${env.OS_CLIENT_CONFIG_FILE}), then ` : '';
    throw new ConfigError(`OpenStack cloud '${name}' was asked for, but no clouds.yaml can be read (looked in ${override}${cloudConfigDirectories(env, cwd).map((directory) => join(directory, 'clouds.yaml')).join(', ')}, each also as .yml and .json)`, 'OPENSTACK_CLOUD');
  }
  const clouds = readClouds(found.path, found.text);
  const entry = clouds[name];
  if (entry === undefined) {
    throw new ConfigError(`cloud '${name}' is not in ${found.path} (it has: ${Object.keys(clouds).join(', ') || 'none'})`, 'OPENSTACK_CLOUD');
  }
  // secure.yaml holds secrets of the same clouds, kept in a file of their own: merged in.
  const secureFile = firstReadable(secureYamlPaths(env, cwd));
  const secure = secureFile === undefined ? undefined : readClouds(secureFile.path, secureFile.text)[name];
  const source = `clouds.yaml cloud '${name}' (${found.path}${secure === undefined ? '' : ` with ${secureFile!.path}`})`;
  return fromEntry(source, secure ? mergeDeep(entry, secure) : entry, '');
}

type Entry = Record<string, unknown>;

function readClouds(path: string, text: string): Record<string, Entry> {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`, 'OPENSTACK_CLOUD');
  }
  const clouds = isRecord(document) ? document.clouds : undefined;
  if (!isRecord(clouds)) throw new ConfigError(`${path} has no 'clouds:' mapping`, 'OPENSTACK_CLOUD');
  return clouds as Record<string, Entry>;
}

/** The OS_* variables in clouds.yaml's shape. */
function envEntry(env: NodeJS.ProcessEnv): Entry {
  const pick = (key: string) => env[key] || undefined;
  return {
    auth_type: pick('OS_AUTH_TYPE'),
    region_name: pick('OS_REGION_NAME'),
    interface: pick('OS_INTERFACE') ?? pick('OS_ENDPOINT_TYPE'),
    cacert: pick('OS_CACERT'),
    // openrc files write True as often as true.
    verify: /^(true|1|yes)$/i.test(env.OS_INSECURE ?? '') ? false : undefined,
    auth: {
      auth_url: pick('OS_AUTH_URL'),
      username: pick('OS_USERNAME'),
      user_id: pick('OS_USER_ID'),
      password: pick('OS_PASSWORD'),
      user_domain_name: pick('OS_USER_DOMAIN_NAME'),
      user_domain_id: pick('OS_USER_DOMAIN_ID'),
      project_name: pick('OS_PROJECT_NAME') ?? pick('OS_TENANT_NAME'),
      project_id: pick('OS_PROJECT_ID') ?? pick('OS_TENANT_ID'),
      project_domain_name: pick('OS_PROJECT_DOMAIN_NAME'),
      project_domain_id: pick('OS_PROJECT_DOMAIN_ID'),
      application_credential_id: pick('OS_APPLICATION_CREDENTIAL_ID'),
      application_credential_name: pick('OS_APPLICATION_CREDENTIAL_NAME'),
      application_credential_secret: pick('OS_APPLICATION_CREDENTIAL_SECRET'),
    },
  };
}

/** `prefix` is '' for clouds.yaml keys and 'OS_' for variables: messages name what the user wrote. */
function fromEntry(source: string, entry: Entry, prefix: string): CloudConfig {
  const auth = isRecord(entry.auth) ? entry.auth : {};
  const key = (name: string) => (prefix === '' ? (name === 'auth_type' || name === 'region_name' || name === 'interface' ? name : `auth.${name}`) : `${prefix}${name.toUpperCase()}`);
  const text = (value: unknown, name: string): string | undefined => {
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' && typeof value !== 'number') throw new ConfigError(`${source}: ${key(name)} must be a string`, key(name));
    return String(value);
  };
  const domain = (value: string | undefined, fallback: string | undefined) => value ?? fallback;
  const authUrl = text(auth.auth_url, 'auth_url');
  if (authUrl === undefined) throw new ConfigError(`${source}: ${key('auth_url')} is not set`, key('auth_url'));
  // new URL() takes 'keystone:5000' as a URL with the scheme 'keystone:'; only http(s) will do.
  let url: URL | null = null;
  try {
    url = new URL(authUrl);
  } catch {
    url = null;
  }
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(`${source}: ${key('auth_url')} '${authUrl}' is not an http(s) URL`, key('auth_url'));
  }
  // Keystone v3 is the only identity API left; accept a URL with or without /v3.
  const base = url.href.replace(/\/+$/, '').replace(/\/v3$/, '').replace(/\/v2\.0$/, '');

  const authType = text(entry.auth_type, 'auth_type') ?? (auth.application_credential_secret ? 'v3applicationcredential' : 'password');
  const sharedDomainName = text(auth.domain_name, 'domain_name') ?? text(auth.default_domain_name, 'default_domain_name');
  const sharedDomainId = text(auth.domain_id, 'domain_id') ?? text(auth.default_domain_id, 'default_domain_id');
  const user = {
    ...opt('username', text(auth.username, 'username')),
    ...opt('userId', text(auth.user_id, 'user_id')),
    ...opt('userDomainName', domain(text(auth.user_domain_name, 'user_domain_name'), sharedDomainName)),
    ...opt('userDomainId', domain(text(auth.user_domain_id, 'user_domain_id'), sharedDomainId)),
  };
  let credentials: PasswordAuth | ApplicationCredentialAuth;
  if (authType === 'v3applicationcredential' || authType === 'application_credential') {
    const secret = text(auth.application_credential_secret, 'application_credential_secret');
    if (secret === undefined) throw new ConfigError(`${source}: ${key('application_credential_secret')} is not set`, key('application_credential_secret'));
    const id = text(auth.application_credential_id, 'application_credential_id');
    const name = text(auth.application_credential_name, 'application_credential_name');
    if (id === undefined && name === undefined) throw new ConfigError(`${source}: set ${key('application_credential_id')} (or its name and the user)`, key('application_credential_id'));
    if (id === undefined && user.username === undefined && user.userId === undefined) {
      throw new ConfigError(`${source}: an application credential given by name needs ${key('username')} or ${key('user_id')}`, key('username'));
    }
    credentials = { type: 'application-credential', secret, ...opt('id', id), ...opt('name', name), ...user };
  } else if (authType === 'password' || authType === 'v3password') {
    const password = text(auth.password, 'password');
    if (password === undefined) throw new ConfigError(`${source}: ${key('password')} is not set`, key('password'));
    if (user.username === undefined && user.userId === undefined) throw new ConfigError(`${source}: ${key('username')} is not set`, key('username'));
    if (user.userId === undefined && user.userDomainName === undefined && user.userDomainId === undefined) {
      throw new ConfigError(`${source}: ${key('user_domain_name')} (or its id) is not set`, key('user_domain_name'));
    }
    const projectName = text(auth.project_name, 'project_name');
    const projectId = text(auth.project_id, 'project_id');
    if (projectName === undefined && projectId === undefined) throw new ConfigError(`${source}: ${key('project_name')} (or ${key('project_id')}) is not set`, key('project_name'));
    const projectDomainName = domain(text(auth.project_domain_name, 'project_domain_name'), sharedDomainName);
    const projectDomainId = domain(text(auth.project_domain_id, 'project_domain_id'), sharedDomainId);
    if (projectId === undefined && projectDomainName === undefined && projectDomainId === undefined) {
      throw new ConfigError(`${source}: ${key('project_domain_name')} (or its id) is not set`, key('project_domain_name'));
    }
    credentials = {
      type: 'password',
      password,
      ...user,
      ...opt('projectName', projectName),
      ...opt('projectId', projectId),
      ...opt('projectDomainName', projectDomainName),
      ...opt('projectDomainId', projectDomainId),
    };
  } else {
    throw new ConfigError(`${source}: ${key('auth_type')} '${authType}' is not supported (password or v3applicationcredential)`, key('auth_type'));
  }

  const endpointInterface = (text(entry.interface, 'interface') ?? 'public').replace(/URL$/, '');
  if (endpointInterface !== 'public' && endpointInterface !== 'internal' && endpointInterface !== 'admin') {
    throw new ConfigError(`${source}: ${key('interface')} '${endpointInterface}' must be public, internal or admin`, key('interface'));
  }
  const cacert = text(entry.cacert, 'cacert') ?? null;
  if (cacert !== null && !existsSync(cacert)) throw new ConfigError(`${source}: cacert '${cacert}' does not exist`, prefix === '' ? 'cacert' : 'OS_CACERT');
  const endpointOverrides: Record<string, string> = {};
  for (const [name, value] of Object.entries(entry)) {
    const match = /^([a-z-]+)_endpoint_override$/.exec(name);
    if (!match) continue;
    if (typeof value !== 'string' || !/^https?:\/\//.test(value)) throw new ConfigError(`${source}: ${name} must be an http(s) URL`, name);
    endpointOverrides[match[1]!.replace(/-/g, '_')] = value.replace(/\/+$/, '');
  }
  return {
    source,
    endpointOverrides,
    authUrl: base,
    auth: credentials,
    regionName: text(entry.region_name, 'region_name') ?? null,
    interface: endpointInterface,
    caFile: cacert,
    verify: entry.verify !== false,
  };
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mergeDeep(base: Entry, over: Entry): Entry {
  const merged: Entry = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = merged[key];
    merged[key] = isRecord(current) && isRecord(value) ? mergeDeep(current, value) : value;
  }
  return merged;
}
