// The pure parts of the OpenStack providers: where a cloud's configuration comes from
// (clouds.yaml, secure.yaml, OS_* variables) and what its errors say, which cloud answers mean
// "no room", the headroom Nova's limits leave, the cloud's sentence out of an error body, and
// the node host's user-data. No network; files live in temporary directories.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';

import { ConfigError } from '../../src/core/errors.ts';
import { classifyCloudFailure, headroomFromLimits, type NovaFlavor, type NovaLimits } from '../../src/providers/openstack/cloud-capacity.ts';
import { cloudsYamlPaths, resolveCloudConfig, secureYamlPaths, type CloudConfig } from '../../src/providers/openstack/cloud-config.ts';
import { nodeUserData, parseNodeUserData, type NodeBootSettings } from '../../src/providers/openstack/node-user-data.ts';
import { messageOf } from '../../src/providers/openstack/openstack-client.ts';

/** Distinctive enough that finding it in an error can only mean the error leaked it. */
const PASSWORD = 'pw-Zq81-never-print-me';
const APP_SECRET = 'appcred-Kx47-never-print-me';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'geartide-os-config-'));
  dirs.push(dir);
  return dir;
}

function write(path: string, text: string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

/** A home, a working directory and an XDG directory of their own, none holding a clouds.yaml yet. */
function place() {
  const root = tempDir();
  const home = join(root, 'home');
  const cwd = join(root, 'work');
  const xdg = join(root, 'xdg');
  for (const dir of [home, cwd, xdg]) mkdirSync(dir, { recursive: true });
  return { root, home, cwd, xdg, env: { HOME: home } as NodeJS.ProcessEnv };
}

const PROD = `
    auth:
      auth_url: https://keystone.example.com:5000/v3
      username: geartide
      password: ${PASSWORD}
      project_name: paas
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionTwo
    interface: internal`;

const CLOUDS = `clouds:\n  prod:${PROD}\n  other:\n    auth:\n      auth_url: https://other.example.com/v3\n`;

/** The fields every resolution sets (others, added later, are tested where they are added). */
type Essentials = Pick<CloudConfig, 'source' | 'authUrl' | 'auth' | 'regionName' | 'interface' | 'caFile' | 'verify'>;

function essentials(config: CloudConfig): Essentials {
  const { source, authUrl, auth, regionName, interface: endpointInterface, caFile, verify } = config;
  return { source, authUrl, auth, regionName, interface: endpointInterface, caFile, verify };
}

const PROD_CONFIG = (source: string): Essentials => ({
  source,
  authUrl: 'https://keystone.example.com:5000',
  auth: { type: 'password', password: PASSWORD, username: 'geartide', userDomainName: 'Default', projectName: 'paas', projectDomainName: 'Default' },
  regionName: 'RegionTwo',
  interface: 'internal',
  caFile: null,
  verify: true,
});

/** `run` throws a ConfigError about `field` that mentions each of `mentions` and no secret. */
function assertConfigError(run: () => unknown, field: string, mentions: string[]): ConfigError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `a ConfigError, got ${String(caught)}`);
  assert.equal(caught.field, field);
  for (const text of mentions) assert.ok(caught.message.includes(text), `'${caught.message}' mentions '${text}'`);
  const everything = `${caught.message} ${String(caught)} ${JSON.stringify(caught.context)} ${caught.stack ?? ''}`;
  assert.ok(!everything.includes(PASSWORD), `the error leaks the password: ${caught.message}`);
  assert.ok(!everything.includes(APP_SECRET), `the error leaks the application credential secret: ${caught.message}`);
  return caught;
}

describe('clouds.yaml: where a named cloud is found', () => {
  it('reads the file OS_CLIENT_CONFIG_FILE names first, whatever its name', () => {
    const { root, cwd, env } = place();
    const path = write(join(root, 'elsewhere', 'my-clouds.yaml'), CLOUDS);
    write(join(cwd, 'clouds.yaml'), 'clouds:\n  prod:\n    auth: {auth_url: https://wrong.example.com}\n');
    const config = resolveCloudConfig('prod', { ...env, OS_CLIENT_CONFIG_FILE: path }, cwd);
    assert.deepEqual(essentials(config), PROD_CONFIG(`clouds.yaml cloud 'prod' (${path})`));
    const paths = cloudsYamlPaths({ ...env, OS_CLIENT_CONFIG_FILE: path }, cwd);
    assert.deepEqual(paths.slice(0, 2), [path, join(cwd, 'clouds.yaml')], 'before the usual places, not instead of them');
  });

  it('goes on to the usual places when OS_CLIENT_CONFIG_FILE names no file, as openstacksdk does', () => {
    const { root, cwd, env } = place();
    const path = write(join(cwd, 'clouds.yaml'), CLOUDS);
    const config = resolveCloudConfig('prod', { ...env, OS_CLIENT_CONFIG_FILE: join(root, 'nowhere.yaml') }, cwd);
    assert.deepEqual(essentials(config), PROD_CONFIG(`clouds.yaml cloud 'prod' (${path})`), 'the source names the file used');
  });

  it('finds clouds.yml and clouds.json as well, .yaml first', () => {
    for (const ending of ['.yml', '.json']) {
      const { cwd, env } = place();
      const text = ending === '.json' ? JSON.stringify({ clouds: { prod: { auth: { auth_url: 'https://keystone.example.com:5000/v3', username: 'geartide', password: PASSWORD, project_name: 'paas', user_domain_name: 'Default', project_domain_name: 'Default' }, region_name: 'RegionTwo', interface: 'internal' } } }) : CLOUDS;
      const path = write(join(cwd, `clouds${ending}`), text);
      assert.deepEqual(essentials(resolveCloudConfig('prod', env, cwd)), PROD_CONFIG(`clouds.yaml cloud 'prod' (${path})`), ending);
    }
    const { cwd, env } = place();
    const yaml = write(join(cwd, 'clouds.yaml'), CLOUDS);
    write(join(cwd, 'clouds.yml'), 'clouds:\n  prod:\n    auth: {auth_url: https://wrong.example.com}\n');
    assert.equal(resolveCloudConfig('prod', env, cwd).source, `clouds.yaml cloud 'prod' (${yaml})`);
  });

  it('passes over a clouds.yaml this user may not read, as openstacksdk does', { skip: process.getuid?.() === 0 ? 'root reads any file' : false }, () => {
    const { home, cwd, env } = place();
    const unreadable = write(join(cwd, 'clouds.yaml'), 'clouds:\n  prod:\n    auth: {auth_url: https://wrong.example.com}\n');
    chmodSync(unreadable, 0o000);
    const path = write(join(home, '.config', 'openstack', 'clouds.yaml'), CLOUDS);
    assert.equal(resolveCloudConfig('prod', env, cwd).source, `clouds.yaml cloud 'prod' (${path})`);
  });

  it('reads ./clouds.yaml of the given working directory before the user\'s own', () => {
    const { home, cwd, env } = place();
    const path = write(join(cwd, 'clouds.yaml'), CLOUDS);
    write(join(home, '.config', 'openstack', 'clouds.yaml'), 'clouds:\n  prod:\n    auth: {auth_url: https://wrong.example.com}\n');
    assert.deepEqual(essentials(resolveCloudConfig('prod', env, cwd)), PROD_CONFIG(`clouds.yaml cloud 'prod' (${path})`));
  });

  it('reads $XDG_CONFIG_HOME/openstack/clouds.yaml when there is no ./clouds.yaml', () => {
    const { cwd, xdg, env } = place();
    const path = write(join(xdg, 'openstack', 'clouds.yaml'), CLOUDS);
    assert.deepEqual(essentials(resolveCloudConfig('prod', { ...env, XDG_CONFIG_HOME: xdg }, cwd)), PROD_CONFIG(`clouds.yaml cloud 'prod' (${path})`));
  });

  it('reads ~/.config/openstack/clouds.yaml when XDG_CONFIG_HOME is not set', () => {
    const { home, cwd, env } = place();
    const path = write(join(home, '.config', 'openstack', 'clouds.yaml'), CLOUDS);
    assert.deepEqual(essentials(resolveCloudConfig('prod', env, cwd)), PROD_CONFIG(`clouds.yaml cloud 'prod' (${path})`));
  });

  it('searches ./clouds.yaml, the user\'s config directories, then /etc/openstack, in that order', () => {
    const { home, cwd, xdg, env } = place();
    const each = (directory: string) => ['.yaml', '.yml', '.json'].map((ending) => join(directory, `clouds${ending}`));
    assert.deepEqual(cloudsYamlPaths({ ...env, XDG_CONFIG_HOME: xdg }, cwd), [...each(cwd), ...each(join(xdg, 'openstack')), ...each(join(home, '.config', 'openstack')), ...each('/etc/openstack')]);
    assert.deepEqual(cloudsYamlPaths(env, cwd), [...each(cwd), ...each(join(home, '.config', 'openstack')), ...each('/etc/openstack')], 'without XDG_CONFIG_HOME, ~/.config once');
  });

  it('merges the secure.yaml it finds wherever it is, OS_CLIENT_SECURE_FILE first', () => {
    const { root, home, cwd, env } = place();
    write(join(cwd, 'clouds.yaml'), CLOUDS.replace(`      password: ${PASSWORD}\n`, ''));
    const userSecure = write(join(home, '.config', 'openstack', 'secure.yaml'), `clouds:\n  prod:\n    auth:\n      password: ${PASSWORD}\n`);
    const config = resolveCloudConfig('prod', env, cwd);
    assert.equal(config.auth.type === 'password' && config.auth.password, PASSWORD, 'clouds.yaml in ./, secure.yaml in ~/.config/openstack');
    assert.equal(config.source, `clouds.yaml cloud 'prod' (${join(cwd, 'clouds.yaml')} with ${userSecure})`);
    const named = write(join(root, 'vault', 'os-secrets.yaml'), `clouds:\n  prod:\n    auth:\n      password: other-${PASSWORD}\n`);
    const overridden = resolveCloudConfig('prod', { ...env, OS_CLIENT_SECURE_FILE: named }, cwd);
    assert.equal(overridden.auth.type === 'password' && overridden.auth.password, `other-${PASSWORD}`);
    assert.equal(secureYamlPaths({ ...env, OS_CLIENT_SECURE_FILE: named }, cwd)[0], named);
  });

  it('merges secure.yaml beside clouds.yaml: a password only in secure.yaml works', () => {
    const { cwd, env } = place();
    write(join(cwd, 'clouds.yaml'), CLOUDS.replace(`      password: ${PASSWORD}\n`, ''));
    write(join(cwd, 'secure.yaml'), `clouds:\n  prod:\n    auth:\n      password: ${PASSWORD}\n`);
    const config = resolveCloudConfig('prod', env, cwd);
    assert.equal(config.auth.type, 'password');
    assert.equal(config.auth.type === 'password' && config.auth.password, PASSWORD);
    assert.equal(config.auth.username, 'geartide', 'clouds.yaml\'s other auth keys are kept');
    assert.equal(config.regionName, 'RegionTwo');
  });

  it('uses OS_CLOUD when no cloud is named, and a named cloud over OS_CLOUD', () => {
    const { cwd, env } = place();
    write(join(cwd, 'clouds.yaml'), `${CLOUDS}  third:${PROD.replace('RegionTwo', 'RegionThree')}\n`);
    assert.equal(resolveCloudConfig(null, { ...env, OS_CLOUD: 'third' }, cwd).regionName, 'RegionThree');
    assert.equal(resolveCloudConfig('prod', { ...env, OS_CLOUD: 'third' }, cwd).regionName, 'RegionTwo');
  });

  it('reads a v3applicationcredential cloud, and one whose type follows from its secret', () => {
    const { cwd, env } = place();
    write(
      join(cwd, 'clouds.yaml'),
      `clouds:
  byid:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example.com/identity/v3/
      application_credential_id: 0a1b2c
      application_credential_secret: ${APP_SECRET}
  byname:
    auth:
      auth_url: https://keystone.example.com/identity
      application_credential_name: geartide-broker
      application_credential_secret: ${APP_SECRET}
      username: geartide
      user_domain_name: Default
`,
    );
    const byId = resolveCloudConfig('byid', env, cwd);
    assert.equal(byId.authUrl, 'https://keystone.example.com/identity');
    assert.deepEqual(byId.auth, { type: 'application-credential', secret: APP_SECRET, id: '0a1b2c' });
    const byName = resolveCloudConfig('byname', env, cwd);
    assert.equal(byName.authUrl, 'https://keystone.example.com/identity');
    assert.deepEqual(byName.auth, { type: 'application-credential', secret: APP_SECRET, name: 'geartide-broker', username: 'geartide', userDomainName: 'Default' });
  });

  it('keeps a cacert that exists, and verify: false', () => {
    const { root, cwd, env } = place();
    const ca = write(join(root, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n');
    write(join(cwd, 'clouds.yaml'), `clouds:\n  prod:${PROD}\n    cacert: ${ca}\n    verify: false\n`);
    const config = resolveCloudConfig('prod', env, cwd);
    assert.equal(config.caFile, ca);
    assert.equal(config.verify, false);
  });
});

/** An openrc's variables (password auth), without OS_CLOUD. */
const OPENRC: NodeJS.ProcessEnv = {
  OS_AUTH_URL: 'http://127.0.0.1:5000/v3',
  OS_USERNAME: 'demo',
  OS_PASSWORD: PASSWORD,
  OS_PROJECT_NAME: 'demo',
  OS_USER_DOMAIN_NAME: 'Default',
  OS_PROJECT_DOMAIN_NAME: 'Default',
  OS_REGION_NAME: 'RegionOne',
};

describe('OS_* variables: an openrc', () => {
  it('gives password auth scoped to the project, the public interface by default', () => {
    const { cwd, env } = place();
    assert.deepEqual(essentials(resolveCloudConfig(null, { ...env, ...OPENRC }, cwd)), {
      source: 'OS_* variables',
      authUrl: 'http://127.0.0.1:5000',
      auth: { type: 'password', password: PASSWORD, username: 'demo', userDomainName: 'Default', projectName: 'demo', projectDomainName: 'Default' },
      regionName: 'RegionOne',
      interface: 'public',
      caFile: null,
      verify: true,
    });
  });

  const authUrls: Record<string, string> = {
    'with /v3': 'http://127.0.0.1:5000/v3',
    'with /v3/': 'http://127.0.0.1:5000/v3/',
    'without a version': 'http://127.0.0.1:5000',
    'with a trailing slash': 'http://127.0.0.1:5000/',
    'with the old /v2.0': 'http://127.0.0.1:5000/v2.0',
  };
  for (const [name, url] of Object.entries(authUrls)) {
    it(`accepts OS_AUTH_URL ${name}`, () => {
      assert.equal(resolveCloudConfig(null, { ...OPENRC, OS_AUTH_URL: url }).authUrl, 'http://127.0.0.1:5000');
    });
  }

  it('falls back to OS_TENANT_NAME (and OS_TENANT_ID) of an old openrc', () => {
    const byName = resolveCloudConfig(null, { ...OPENRC, OS_PROJECT_NAME: undefined, OS_TENANT_NAME: 'legacy' });
    assert.equal(byName.auth.type === 'password' && byName.auth.projectName, 'legacy');
    const byId = resolveCloudConfig(null, { ...OPENRC, OS_PROJECT_NAME: undefined, OS_TENANT_ID: 'f00d' });
    assert.equal(byId.auth.type === 'password' && byId.auth.projectId, 'f00d');
  });

  const interfaces: Record<string, [NodeJS.ProcessEnv, CloudConfig['interface']]> = {
    'OS_INTERFACE=publicURL (the v2 spelling) is public': [{ OS_INTERFACE: 'publicURL' }, 'public'],
    'OS_INTERFACE=internal is internal': [{ OS_INTERFACE: 'internal' }, 'internal'],
    'OS_ENDPOINT_TYPE=adminURL is admin': [{ OS_ENDPOINT_TYPE: 'adminURL' }, 'admin'],
    'OS_INTERFACE wins over OS_ENDPOINT_TYPE': [{ OS_INTERFACE: 'internal', OS_ENDPOINT_TYPE: 'adminURL' }, 'internal'],
  };
  for (const [name, [variables, want]] of Object.entries(interfaces)) {
    it(name, () => {
      assert.equal(resolveCloudConfig(null, { ...OPENRC, ...variables }).interface, want);
    });
  }

  const insecure: Record<string, [string | undefined, boolean]> = {
    'OS_INSECURE=true turns verification off': ['true', false],
    'OS_INSECURE=True (as openrc files write it) turns verification off': ['True', false],
    'OS_INSECURE=1 turns verification off': ['1', false],
    'OS_INSECURE=false keeps verification': ['false', true],
    'no OS_INSECURE keeps verification': [undefined, true],
  };
  for (const [name, [value, verify]] of Object.entries(insecure)) {
    it(name, () => {
      assert.equal(resolveCloudConfig(null, { ...OPENRC, OS_INSECURE: value }).verify, verify);
    });
  }

  it('gives application credential auth by id, and by name with the user', () => {
    const base = { OS_AUTH_URL: 'https://keystone.example.com:5000', OS_APPLICATION_CREDENTIAL_SECRET: APP_SECRET };
    assert.deepEqual(resolveCloudConfig(null, { ...base, OS_AUTH_TYPE: 'v3applicationcredential', OS_APPLICATION_CREDENTIAL_ID: '0a1b2c' }).auth, {
      type: 'application-credential',
      secret: APP_SECRET,
      id: '0a1b2c',
    });
    assert.deepEqual(resolveCloudConfig(null, { ...base, OS_APPLICATION_CREDENTIAL_NAME: 'geartide-broker', OS_USERNAME: 'geartide', OS_USER_DOMAIN_NAME: 'Default' }).auth, {
      type: 'application-credential',
      secret: APP_SECRET,
      name: 'geartide-broker',
      username: 'geartide',
      userDomainName: 'Default',
    });
  });
});

describe('cloud configuration errors name the key and where, and never a secret', () => {
  interface ErrorCase {
    /** clouds.yaml's text, written to ./clouds.yaml (undefined: no file). */
    clouds?: string;
    secure?: string;
    env?: NodeJS.ProcessEnv;
    cloud: string | null;
    field: string;
    /** Texts the message must contain; `{path}` is ./clouds.yaml, `{cwd}`, `{xdg}` the directories. */
    mentions: string[];
  }
  const cases: Record<string, ErrorCase> = {
    'a cloud not in clouds.yaml: the file and the clouds it has': {
      clouds: CLOUDS,
      cloud: 'staging',
      field: 'OPENSTACK_CLOUD',
      mentions: ["cloud 'staging'", '{path}', 'prod', 'other'],
    },
    'no clouds.yaml anywhere: every path looked in': {
      cloud: 'prod',
      env: { XDG_CONFIG_HOME: '{xdg}' },
      field: 'OPENSTACK_CLOUD',
      mentions: ["'prod'", '{path}', '{xdg}/openstack/clouds.yaml', '/etc/openstack/clouds.yaml'],
    },
    'OS_CLIENT_CONFIG_FILE names a file that does not exist': {
      cloud: 'prod',
      env: { OS_CLIENT_CONFIG_FILE: '{cwd}/nowhere.yaml' },
      field: 'OPENSTACK_CLOUD',
      mentions: ['{cwd}/nowhere.yaml'],
    },
    'clouds.yaml is not YAML (the secret is on the bad line)': {
      clouds: `clouds:\n  prod:\n    auth: {password: ${PASSWORD}: oops\n`,
      cloud: 'prod',
      field: 'OPENSTACK_CLOUD',
      mentions: ['{path}', 'not valid YAML'],
    },
    'clouds.yaml has no clouds: mapping': {
      clouds: `prod:\n  auth:\n    password: ${PASSWORD}\n`,
      cloud: 'prod',
      field: 'OPENSTACK_CLOUD',
      mentions: ['{path}', "'clouds:'"],
    },
    'secure.yaml is not YAML': {
      clouds: CLOUDS,
      secure: `clouds:\n  prod: [${PASSWORD}\n`,
      cloud: 'prod',
      field: 'OPENSTACK_CLOUD',
      mentions: ['secure.yaml', 'not valid YAML'],
    },
    'auth_url missing': {
      clouds: `clouds:\n  prod:\n    auth:\n      username: geartide\n      password: ${PASSWORD}\n`,
      cloud: 'prod',
      field: 'auth.auth_url',
      mentions: ["cloud 'prod'", '{path}', 'auth.auth_url'],
    },
    'auth_url without a scheme (new URL() would take "keystone.example.com:" for one)': {
      clouds: CLOUDS.replace('https://keystone.example.com:5000/v3', 'keystone.example.com:5000/v3'),
      cloud: 'prod',
      field: 'auth.auth_url',
      mentions: ["cloud 'prod'", 'auth.auth_url', "'keystone.example.com:5000/v3'", 'not an http(s) URL'],
    },
    'an auth_type other than password or an application credential': {
      clouds: `clouds:\n  prod:${PROD}\n    auth_type: v3token\n`,
      cloud: 'prod',
      field: 'auth_type',
      mentions: ["cloud 'prod'", '{path}', "'v3token'", 'not supported'],
    },
    'an interface that is not public, internal or admin': {
      clouds: CLOUDS.replace('interface: internal', 'interface: private'),
      cloud: 'prod',
      field: 'interface',
      mentions: ["cloud 'prod'", "'private'", 'public, internal or admin'],
    },
    'no project for password auth': {
      clouds: CLOUDS.replace('      project_name: paas\n', ''),
      cloud: 'prod',
      field: 'auth.project_name',
      mentions: ["cloud 'prod'", '{path}', 'auth.project_name', 'auth.project_id'],
    },
    'no project domain for a project given by name': {
      clouds: CLOUDS.replace('      project_domain_name: Default\n', ''),
      cloud: 'prod',
      field: 'auth.project_domain_name',
      mentions: ["cloud 'prod'", 'auth.project_domain_name'],
    },
    'no password, in clouds.yaml or secure.yaml': {
      clouds: CLOUDS.replace(`      password: ${PASSWORD}\n`, ''),
      cloud: 'prod',
      field: 'auth.password',
      mentions: ["cloud 'prod'", 'auth.password'],
    },
    'no username': {
      clouds: CLOUDS.replace('      username: geartide\n', ''),
      cloud: 'prod',
      field: 'auth.username',
      mentions: ["cloud 'prod'", 'auth.username'],
    },
    'a password that is a mapping': {
      clouds: CLOUDS.replace(`password: ${PASSWORD}`, `password: {value: ${PASSWORD}}`),
      cloud: 'prod',
      field: 'auth.password',
      mentions: ['auth.password', 'must be a string'],
    },
    'a cacert that does not exist': {
      clouds: `clouds:\n  prod:${PROD}\n    cacert: {cwd}/missing-ca.pem\n`,
      cloud: 'prod',
      field: 'cacert',
      mentions: ["cloud 'prod'", '{cwd}/missing-ca.pem', 'does not exist'],
    },
    'an application credential without its secret': {
      clouds: 'clouds:\n  prod:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: https://keystone.example.com/v3\n      application_credential_id: 0a1b2c\n',
      cloud: 'prod',
      field: 'auth.application_credential_secret',
      mentions: ["cloud 'prod'", 'auth.application_credential_secret'],
    },
    'an application credential with neither id nor name': {
      clouds: `clouds:\n  prod:\n    auth:\n      auth_url: https://keystone.example.com/v3\n      application_credential_secret: ${APP_SECRET}\n`,
      cloud: 'prod',
      field: 'auth.application_credential_id',
      mentions: ["cloud 'prod'", 'auth.application_credential_id'],
    },
    'an application credential by name without its user': {
      clouds: `clouds:\n  prod:\n    auth:\n      auth_url: https://keystone.example.com/v3\n      application_credential_name: broker\n      application_credential_secret: ${APP_SECRET}\n`,
      cloud: 'prod',
      field: 'auth.username',
      mentions: ["cloud 'prod'", 'auth.username', 'auth.user_id'],
    },
    'no cloud named and no OS_AUTH_URL': {
      cloud: null,
      env: { OS_PASSWORD: PASSWORD, OS_USERNAME: 'demo' },
      field: 'OPENSTACK_CLOUD',
      mentions: ['OPENSTACK_CLOUD', 'OS_CLOUD', 'OS_AUTH_URL'],
    },
    'OS_* variables without a project': {
      cloud: null,
      env: { ...OPENRC, OS_PROJECT_NAME: undefined },
      field: 'OS_PROJECT_NAME',
      mentions: ['OS_* variables', 'OS_PROJECT_NAME', 'OS_PROJECT_ID'],
    },
    'OS_* variables without a password': {
      cloud: null,
      env: { ...OPENRC, OS_PASSWORD: undefined },
      field: 'OS_PASSWORD',
      mentions: ['OS_* variables', 'OS_PASSWORD'],
    },
    'OS_AUTH_URL not a URL': {
      cloud: null,
      env: { ...OPENRC, OS_AUTH_URL: '127.0.0.1:5000' },
      field: 'OS_AUTH_URL',
      mentions: ['OS_AUTH_URL', 'not an http(s) URL'],
    },
    'an unsupported OS_AUTH_TYPE': {
      cloud: null,
      env: { ...OPENRC, OS_AUTH_TYPE: 'v3oidcpassword' },
      field: 'OS_AUTH_TYPE',
      mentions: ['OS_* variables', "'v3oidcpassword'"],
    },
    'a bad OS_INTERFACE': {
      cloud: null,
      env: { ...OPENRC, OS_INTERFACE: 'privateURL' },
      field: 'OS_INTERFACE',
      mentions: ['OS_INTERFACE', "'private'"],
    },
    'an OS_CACERT that does not exist': {
      cloud: null,
      env: { ...OPENRC, OS_CACERT: '{cwd}/missing-ca.pem' },
      field: 'OS_CACERT',
      mentions: ['{cwd}/missing-ca.pem', 'does not exist'],
    },
    'OS_* application credential without its id or name': {
      cloud: null,
      env: { OS_AUTH_URL: 'http://127.0.0.1:5000/v3', OS_AUTH_TYPE: 'v3applicationcredential', OS_APPLICATION_CREDENTIAL_SECRET: APP_SECRET },
      field: 'OS_APPLICATION_CREDENTIAL_ID',
      mentions: ['OS_* variables', 'OS_APPLICATION_CREDENTIAL_ID'],
    },
  };

  for (const [name, test] of Object.entries(cases)) {
    const defaultPathsPresent = name.startsWith('no clouds.yaml') && existsSync('/etc/openstack/clouds.yaml');
    it(name, { skip: defaultPathsPresent ? 'this machine has an /etc/openstack/clouds.yaml' : false }, () => {
      const { cwd, xdg, env } = place();
      const fill = (text: string) => text.replaceAll('{path}', join(cwd, 'clouds.yaml')).replaceAll('{cwd}', cwd).replaceAll('{xdg}', xdg);
      if (test.clouds !== undefined) write(join(cwd, 'clouds.yaml'), fill(test.clouds));
      if (test.secure !== undefined) write(join(cwd, 'secure.yaml'), fill(test.secure));
      const variables: NodeJS.ProcessEnv = { ...env };
      for (const [key, value] of Object.entries(test.env ?? {})) if (value !== undefined) variables[key] = fill(value);
      assertConfigError(() => resolveCloudConfig(test.cloud, variables, cwd), test.field, test.mentions.map(fill));
    });
  }
});

describe('classifyCloudFailure: does the cloud mean "no room"?', () => {
  const cases: { name: string; status: number; message: string; want: boolean }[] = [
    { name: "Nova's 403 on create when the instances quota is full", status: 403, message: 'Quota exceeded for instances: Requested 1, but already used 10 of 10 instances', want: true },
    { name: "a server's fault when the scheduler has no host left", status: 0, message: 'No valid host was found. There are not enough hosts available.', want: true },
    {
      name: "Heat's reason for a ResourceGroup that hit Nova's quota",
      status: 0,
      message: 'Resource UPDATE failed: resources.nodes: Resource CREATE failed: Forbidden: resources[7]: Quota exceeded for instances: Requested 1, but already used 4 of 4 instances (HTTP 403)',
      want: true,
    },
    { name: "Nova's 403 for the cores quota", status: 403, message: 'Quota exceeded for cores: Requested 2, but already used 19 of 20 cores', want: true },
    { name: 'a 403 from policy is not exhaustion', status: 403, message: "Policy doesn't allow os_compute_api:servers:create to be performed.", want: false },
    { name: 'a 400 for a bad flavor is not exhaustion', status: 400, message: 'Invalid flavorRef provided.', want: false },
    { name: "a 500 of Nova's own is not exhaustion", status: 500, message: 'Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.', want: false },
    { name: 'a 404 is not exhaustion', status: 404, message: 'Flavor gear-9 could not be found.', want: false },
    { name: 'a 404 is not exhaustion even when its words say quota', status: 404, message: 'Quota exceeded for instances', want: false },
    { name: 'a fault that is not about room is not exhaustion', status: 0, message: 'Build of instance 1f0c aborted: Image 77aa could not be found.', want: false },
  ];
  for (const { name, status, message, want } of cases) {
    it(name, () => {
      assert.equal(classifyCloudFailure(status, message), want);
    });
  }
});

describe('headroomFromLimits: the tightest quota wins', () => {
  const FLAVOR: NovaFlavor = { id: 'gear-2', name: 'm1.gear2', vcpus: 2, ram: 2048 };
  const limits = (overrides: Partial<NovaLimits>): NovaLimits => ({
    maxTotalInstances: -1,
    totalInstancesUsed: 0,
    maxTotalCores: -1,
    totalCoresUsed: 0,
    maxTotalRAMSize: -1,
    totalRAMUsed: 0,
    ...overrides,
  });
  const cases: { name: string; limits: Partial<NovaLimits>; want: ReturnType<typeof headroomFromLimits> }[] = [
    { name: 'every quota unlimited (-1): no limit known', limits: {}, want: { nodes: null } },
    { name: 'only instances limited', limits: { maxTotalInstances: 10, totalInstancesUsed: 7 }, want: { nodes: 3 } },
    {
      name: 'cores tighter than instances and RAM',
      limits: { maxTotalInstances: 10, totalInstancesUsed: 2, maxTotalCores: 20, totalCoresUsed: 15, maxTotalRAMSize: 51200, totalRAMUsed: 0 },
      want: { nodes: 2 },
    },
    {
      name: 'RAM tighter than instances and cores',
      limits: { maxTotalInstances: 10, totalInstancesUsed: 2, maxTotalCores: 20, totalCoresUsed: 0, maxTotalRAMSize: 8192, totalRAMUsed: 4096 },
      want: { nodes: 2 },
    },
    {
      name: 'instances full: the reason names instances with Nova\'s numbers',
      limits: { maxTotalInstances: 10, totalInstancesUsed: 10, maxTotalCores: 100, maxTotalRAMSize: 512000 },
      want: { nodes: 0, reason: 'Nova quota instances reached: 10 of 10 instances used' },
    },
    {
      name: 'cores short of one flavor: the reason names cores and the flavor',
      limits: { maxTotalInstances: 10, totalInstancesUsed: 3, maxTotalCores: 8, totalCoresUsed: 7, maxTotalRAMSize: 512000 },
      want: { nodes: 0, reason: 'Nova quota cores reached: 7 of 8 cores used, flavor m1.gear2 needs 2' },
    },
    {
      name: 'RAM short of one flavor: the reason names RAM',
      limits: { maxTotalInstances: 10, totalInstancesUsed: 3, maxTotalCores: 100, maxTotalRAMSize: 10240, totalRAMUsed: 9000 },
      want: { nodes: 0, reason: 'Nova quota ram reached: 9000 of 10240 MiB RAM used, flavor m1.gear2 needs 2048' },
    },
    {
      name: 'more used than the quota (lowered since): 0 left, not negative',
      limits: { maxTotalInstances: 4, totalInstancesUsed: 6 },
      want: { nodes: 0, reason: 'Nova quota instances reached: 6 of 4 instances used' },
    },
    {
      name: 'instances unlimited, cores limited',
      limits: { maxTotalCores: 9, totalCoresUsed: 0 },
      want: { nodes: 4 },
    },
  ];
  for (const { name, limits: overrides, want } of cases) {
    it(name, () => {
      assert.deepEqual(headroomFromLimits(limits(overrides), FLAVOR), want);
    });
  }
});

describe('messageOf: the cloud\'s sentence out of an error body', () => {
  const cases: { name: string; body: unknown; want: string }[] = [
    {
      name: 'Nova: {"forbidden": {"message"}}',
      body: { forbidden: { code: 403, message: 'Quota exceeded for instances: Requested 1, but already used 10 of 10 instances' } },
      want: 'Quota exceeded for instances: Requested 1, but already used 10 of 10 instances',
    },
    {
      name: 'Keystone: {"error": {"message"}}',
      body: { error: { code: 401, message: 'The request you have made requires authentication.', title: 'Unauthorized' } },
      want: 'The request you have made requires authentication.',
    },
    {
      name: 'Heat: {"explanation", "error": {"message"}}',
      body: {
        explanation: 'The server could not comply with the request since it is either malformed or otherwise incorrect.',
        code: 400,
        error: { message: 'Property error: resources.nodes.properties.count: 0 is out of range', traceback: null, type: 'StackValidationFailed' },
        title: 'Bad Request',
      },
      want: 'The server could not comply with the request since it is either malformed or otherwise incorrect.: Property error: resources.nodes.properties.count: 0 is out of range',
    },
    { name: 'an HTML page: its text', body: '<html><body><h1>503 Service Unavailable</h1>\n<p>No server is available.</p></body></html>', want: '503 Service Unavailable No server is available.' },
    { name: 'an unknown JSON shape: the JSON', body: { status: 'down' }, want: '{"status":"down"}' },
    { name: 'no body', body: null, want: '' },
  ];
  for (const { name, body, want } of cases) {
    it(name, () => {
      assert.equal(messageOf(body), want);
    });
  }
});

describe('node host user-data', () => {
  const SETTINGS: NodeBootSettings = {
    brokerUrl: 'https://broker.example.com:7480/?via=lb#frag',
    bootstrapToken: 'tok-3q2+/xyz==',
    nodeName: 'gt-small-1a2b3c4d-0',
    district: 'east',
    profile: 'small',
    maxActiveGears: 25,
    scaleEventId: 'scale-1234abcd',
    agentPort: 7599,
  };

  it('round-trips every setting through the #cloud-config document', () => {
    const userData = nodeUserData(SETTINGS);
    assert.ok(userData.startsWith('#cloud-config\n'));
    assert.deepEqual(parseNodeUserData(userData), SETTINGS);
  });

  it('writes the default agent port when none is given', () => {
    const { agentPort: _, ...withoutPort } = SETTINGS;
    assert.deepEqual(parseNodeUserData(nodeUserData(withoutPort)), { ...withoutPort, agentPort: 7481 });
  });

  it('refuses user-data that writes no node.env', () => {
    const userData = '#cloud-config\nwrite_files:\n  - path: /etc/motd\n    content: hello\nruncmd:\n  - [true]\n';
    assert.throws(() => parseNodeUserData(userData), /writes no \/etc\/geartide\/node\.env/);
    assert.throws(() => parseNodeUserData('#!/bin/sh\necho hello\n'), /writes no \/etc\/geartide\/node\.env/);
  });

  it('refuses a node.env without a setting, naming the variable', () => {
    const userData = nodeUserData(SETTINGS).replace(/^ *GEARTIDE_DISTRICT=.*\n/m, '');
    assert.throws(() => parseNodeUserData(userData), /GEARTIDE_DISTRICT/);
  });
});
