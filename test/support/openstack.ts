// Tests against the real loopback OpenStack of ../shared/openstack (up.sh). Each test file gets a
// project and user of its own, so a quota set for one test touches no other, and everything it
// made goes with the project at the end.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

import { resolveCloudConfig, type CloudConfig } from '../../src/providers/openstack/cloud-config.ts';
import { NOVA_MICROVERSION, OpenStackClient } from '../../src/providers/openstack/openstack-client.ts';

/** Where up.sh keeps its state (and the openrc files). */
export const HARNESS_STATE = process.env.OSH_STATE ?? '/var/tmp/os-harness';

/** The harness's admin credentials as OS_* variables, or null when it was never started here. */
export function harnessAdminEnv(): NodeJS.ProcessEnv | null {
  const path = `${HARNESS_STATE}/openrc.admin`;
  if (!existsSync(path)) return null;
  const env: NodeJS.ProcessEnv = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^export (OS_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) env[match[1]!] = match[2]!.replace(/^['"]|['"]$/g, '');
  }
  if (!env.OS_PASSWORD) env.OS_PASSWORD = process.env.OSH_PASSWORD ?? 'secret';
  return env;
}

/** Why the OpenStack tests cannot run, or null when they can. */
export function openstackSkipReason(): string | null {
  if (harnessAdminEnv() !== null) return null;
  const reason = `no OpenStack harness (${HARNESS_STATE}/openrc.admin missing): run ../shared/openstack/up.sh, then npm run test:openstack`;
  // `npm run test:openstack` requires it: a missing harness there is a failure, not a skip.
  if (process.env.GEARTIDE_TEST_OPENSTACK === 'required') throw new Error(reason);
  return reason;
}

export interface TestProject {
  readonly projectId: string;
  readonly projectName: string;
  /** The test user's cloud configuration (password auth, scoped to the project). */
  readonly cloud: CloudConfig;
  /** A client as the test user. */
  readonly client: OpenStackClient;
  /** A client as the cloud's admin. */
  readonly admin: OpenStackClient;
  /** Sets the project's instance quota (null: back to the default). */
  setInstanceQuota(instances: number | null): Promise<void>;
  /** Deletes the project's servers and stacks, then the project and the user. */
  destroy(): Promise<void>;
}

export async function createTestProject(label: string): Promise<TestProject> {
  const adminEnv = harnessAdminEnv();
  if (adminEnv === null) throw new Error(openstackSkipReason()!);
  const admin = new OpenStackClient(resolveCloudConfig(null, adminEnv), { attempts: 3 });
  const suffix = randomBytes(4).toString('hex');
  const projectName = `geartide-${label}-${suffix}`;
  const password = randomBytes(12).toString('hex');
  const project = (await admin.request<{ project: { id: string } }>('identity', 'POST', '/projects', { body: { project: { name: projectName, domain_id: 'default', description: 'geartide test project' } } })).body.project;
  const user = (await admin.request<{ user: { id: string } }>('identity', 'POST', '/users', { body: { user: { name: projectName, password, domain_id: 'default', default_project_id: project.id } } })).body.user;
  const roles = (await admin.request<{ roles: { id: string; name: string }[] }>('identity', 'GET', '/roles')).body.roles;
  for (const role of ['member', 'reader', 'heat_stack_owner']) {
    const found = roles.find((each) => each.name === role);
    if (found) await admin.request('identity', 'PUT', `/projects/${project.id}/users/${user.id}/roles/${found.id}`, { expect: [204, 201, 200] });
  }
  const cloud = resolveCloudConfig(null, {
    OS_AUTH_URL: adminEnv.OS_AUTH_URL,
    OS_USERNAME: projectName,
    OS_PASSWORD: password,
    OS_PROJECT_NAME: projectName,
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    ...(adminEnv.OS_REGION_NAME ? { OS_REGION_NAME: adminEnv.OS_REGION_NAME } : {}),
  });
  const client = new OpenStackClient(cloud, { attempts: 3 });
  const quotaPath = `/os-quota-sets/${project.id}`;
  return {
    projectId: project.id,
    projectName,
    cloud,
    client,
    admin,
    async setInstanceQuota(instances) {
      if (instances === null) await admin.request('compute', 'DELETE', quotaPath, { microversion: NOVA_MICROVERSION, expect: [202, 204] });
      else await admin.request('compute', 'PUT', quotaPath, { body: { quota_set: { instances, force: true } }, microversion: NOVA_MICROVERSION });
    },
    async destroy() {
      try {
        const stacks = (await client.request<{ stacks: { id: string; stack_name: string }[] }>('orchestration', 'GET', '/stacks').catch(() => ({ body: { stacks: [] } }))).body.stacks;
        for (const stack of stacks) await client.request('orchestration', 'DELETE', `/stacks/${stack.stack_name}/${stack.id}`, { expect: [204, 404] }).catch(() => undefined);
        const servers = (await admin.request<{ servers: { id: string }[] }>('compute', 'GET', '/servers', { query: { all_tenants: 1, project_id: project.id }, microversion: NOVA_MICROVERSION })).body.servers;
        for (const server of servers) await admin.request('compute', 'DELETE', `/servers/${server.id}`, { microversion: NOVA_MICROVERSION, expect: [204, 404] }).catch(() => undefined);
        await admin.request('compute', 'DELETE', quotaPath, { microversion: NOVA_MICROVERSION, expect: [202, 204, 404] }).catch(() => undefined);
        await admin.request('identity', 'DELETE', `/users/${user.id}`, { expect: [204, 404] });
        await admin.request('identity', 'DELETE', `/projects/${project.id}`, { expect: [204, 404] });
      } finally {
        await client.close();
        await admin.close();
      }
    },
  };
}

/** Does Nova still have this server (as anything but DELETED)? Asked as admin, past any provider. */
export async function serverExists(admin: OpenStackClient, id: string): Promise<boolean> {
  const response = await admin.request<{ server: { status: string } }>('compute', 'GET', `/servers/${id}`, { microversion: NOVA_MICROVERSION, expect: [200, 404] });
  return response.status === 200 && response.body.server.status !== 'DELETED';
}

/** The user-data a server was booted with (admin only: OS-EXT-SRV-ATTR:user_data, base64). */
export async function serverUserData(admin: OpenStackClient, id: string): Promise<string | null> {
  const response = await admin.request<{ server: Record<string, unknown> }>('compute', 'GET', `/servers/${id}`, { microversion: NOVA_MICROVERSION });
  const data = response.body.server['OS-EXT-SRV-ATTR:user_data'];
  return typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : null;
}
