// A whole platform (broker, router, node agents) whose pool is an OpenStack provider on the
// real harness, in a project of its own: the broker reads its cloud from a clouds.yaml the way an
// operator gives it, and a stand-in for cloud-init boots a local agent for each ACTIVE server.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { BrokerConfKey } from '../../src/broker/broker-config.ts';
import { NOVA_MICROVERSION } from '../../src/providers/openstack/openstack-client.ts';
import { CloudInitStandIn } from './cloud-init-standin.ts';
import { createTestProject, type TestProject } from './openstack.ts';
import { FAST_AUTOSCALE_ENV, startPlatform, type Platform } from './platform.ts';

export interface NovaServerView {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly metadata: Record<string, string>;
}

export interface OpenStackPlatform {
  readonly p: Platform;
  readonly project: TestProject;
  readonly cloudInit: CloudInitStandIn;
  /** The project's servers as Nova has them (asked as admin, straight to Nova), DELETED left out. */
  servers(): Promise<NovaServerView[]>;
  /** Nodes registered with the broker and taking gears. */
  activeNodes(): Promise<string[]>;
  close(): Promise<void>;
}

/** broker.conf for a small, fast pool on the harness's flavor and image (FAST_AUTOSCALE_ENV), with backoff and waits to match. */
export const FAST_POOL_ENV: Partial<Record<BrokerConfKey, string>> = {
  OPENSTACK_FLAVOR: 'm1.gear',
  OPENSTACK_IMAGE: 'tiny',
  OPENSTACK_NETWORKS: 'none',
  OPENSTACK_DELETE_TIMEOUT: '120',
  ...FAST_AUTOSCALE_ENV,
  SCALE_BACKOFF_INITIAL: '1',
  SCALE_BACKOFF_MAX: '2',
  PROVISION_TIMEOUT: '180',
  APP_CREATE_WAIT: '120',
};

export async function startOpenStackPlatform(
  kind: 'openstack-nova' | 'openstack-heat',
  label: string,
  options: {
    /** Where the broker authenticates; default the harness's Keystone. */
    readonly authUrl?: string;
    /** More keys of the clouds.yaml entry (e.g. `compute_endpoint_override`). */
    readonly cloudKeys?: Record<string, string>;
    readonly brokerEnv?: Partial<Record<BrokerConfKey, string>>;
  } = {},
): Promise<OpenStackPlatform> {
  const project = await createTestProject(label);
  const configDir = mkdtempSync(join(tmpdir(), 'geartide-clouds-'));
  let p: Platform | undefined;
  let cloudInit: CloudInitStandIn | undefined;
  const close = async () => {
    await cloudInit?.stop();
    await p?.close();
    await project.destroy();
    rmSync(configDir, { recursive: true, force: true });
  };
  try {
    const auth = project.cloud.auth as { username: string; password: string; projectName: string };
    const entry = {
      auth_url: options.authUrl ?? `${project.cloud.authUrl}/v3`,
      username: auth.username,
      password: auth.password,
      project_name: auth.projectName,
      user_domain_name: 'Default',
      project_domain_name: 'Default',
    };
    writeFileSync(
      join(configDir, 'clouds.yaml'),
      [
        'clouds:',
        '  geartide-test:',
        '    auth:',
        ...Object.entries(entry).map(([key, value]) => `      ${key}: ${value}`),
        '    region_name: RegionOne',
        ...Object.entries(options.cloudKeys ?? {}).map(([key, value]) => `    ${key}: ${value}`),
        '',
      ].join('\n'),
    );
    // The broker runs in this process and finds clouds.yaml by the usual variable.
    process.env.OS_CLIENT_CONFIG_FILE = join(configDir, 'clouds.yaml');
    p = await startPlatform({ autoscale: true, brokerEnv: { AUTOSCALE_PROVIDER: kind, OPENSTACK_CLOUD: 'geartide-test', ...FAST_POOL_ENV, ...options.brokerEnv } });
    cloudInit = new CloudInitStandIn(project.admin, project.projectId, p.home);
    cloudInit.start();
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  const platform = p;
  return {
    p: platform,
    project,
    cloudInit,
    async servers() {
      const response = await project.admin.request<{ servers: NovaServerView[] }>('compute', 'GET', '/servers/detail', {
        microversion: NOVA_MICROVERSION,
        query: { all_tenants: 1, project_id: project.projectId },
      });
      return response.body.servers.filter((server) => server.status !== 'DELETED');
    },
    async activeNodes() {
      const listed = await platform.api('GET', '/nodes');
      return ((listed.items ?? listed) as { name: string; state: string }[]).filter((node) => node.state === 'active').map((node) => node.name).sort();
    },
    close,
  };
}
