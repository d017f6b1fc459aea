// Stands in for cloud-init on a Nova whose fake virt driver boots no VM: for each ACTIVE server
// of a project it "boots" the host — reads the server's user-data from Nova, as cloud-init would
// from the metadata service, and starts a local node agent with exactly those settings (broker
// URL, bootstrap token, name, district, profile, max active gears, scale event). A server that
// disappears from Nova takes its "VM" with it: the agent and its gears are SIGKILLed.
//
// Only what no VM can give locally differs: the agent listens on 127.0.0.1 with a free port
// instead of the user-data's port on the host's address (several "hosts" share this machine).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseNodeUserData, type NodeBootSettings } from '../../src/providers/openstack/node-user-data.ts';
import { NOVA_MICROVERSION, type OpenStackClient } from '../../src/providers/openstack/openstack-client.ts';
import { gearProcessesUnder } from './platform.ts';

const GEARTIDE_BIN = fileURLToPath(new URL('../../bin/geartide.js', import.meta.url));

interface Booted {
  readonly name: string;
  readonly settings: NodeBootSettings;
  readonly child: ChildProcess;
}

interface ServerView {
  id: string;
  name: string;
  status: string;
  'OS-EXT-SRV-ATTR:user_data'?: string | null;
}

export class CloudInitStandIn {
  private readonly booted = new Map<string, Booted>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  /** Every boot, in order: what each host was started with. */
  readonly boots: { serverId: string; settings: NodeBootSettings }[] = [];

  constructor(
    private readonly admin: OpenStackClient,
    private readonly projectId: string,
    /** The platform's GEARTIDE_HOME: hosts' state goes under its nodes/ (so its cleanup finds them). */
    private readonly home: string,
    private readonly pollMs = 300,
  ) {}

  start(): void {
    const tick = () => {
      this.polling = this.poll()
        .catch(() => undefined) // the cloud may be down on purpose (fault tests): look again later
        .finally(() => {
          if (this.timer !== null) this.timer = setTimeout(tick, this.pollMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** The servers whose "VM" runs now, by name. */
  running(): string[] {
    return [...this.booted.values()].map((each) => each.name).sort();
  }

  async stop(): Promise<void> {
    const timer = this.timer;
    this.timer = null;
    if (timer) clearTimeout(timer);
    await this.polling;
    for (const id of [...this.booted.keys()]) this.powerOff(id);
  }

  private async poll(): Promise<void> {
    const response = await this.admin.request<{ servers: ServerView[] }>('compute', 'GET', '/servers/detail', {
      microversion: NOVA_MICROVERSION,
      query: { all_tenants: 1, project_id: this.projectId },
    });
    const servers = response.body.servers;
    for (const server of servers) {
      if (server.status !== 'ACTIVE' || this.booted.has(server.id)) continue;
      const userData = server['OS-EXT-SRV-ATTR:user_data'];
      if (!userData) continue;
      this.boot(server, parseNodeUserData(Buffer.from(userData, 'base64').toString('utf8')));
    }
    for (const id of [...this.booted.keys()]) {
      const server = servers.find((each) => each.id === id);
      if (server === undefined || server.status === 'DELETED') this.powerOff(id);
    }
  }

  private boot(server: ServerView, settings: NodeBootSettings): void {
    const dir = join(this.home, 'nodes', settings.nodeName);
    mkdirSync(dir, { recursive: true });
    const args = [
      GEARTIDE_BIN, 'node',
      '--broker', settings.brokerUrl,
      '--name', settings.nodeName,
      '--district', settings.district,
      '--profile', settings.profile,
      '--max-active-gears', String(settings.maxActiveGears),
      '--scale-event', settings.scaleEventId,
      '--state-dir', dir,
      '--listen', '127.0.0.1:0',
      '--gear-host', '127.0.0.1',
    ];
    const log = openSync(join(dir, 'agent.log'), 'a');
    try {
      const child = spawn(process.execPath, args, {
        env: { ...process.env, GEARTIDE_HOME: this.home, GEARTIDE_BOOTSTRAP_TOKEN: settings.bootstrapToken, GEARTIDE_NODE_NAME: settings.nodeName },
        stdio: ['ignore', log, log],
        detached: true,
      });
      child.unref();
      this.booted.set(server.id, { name: settings.nodeName, settings, child });
      this.boots.push({ serverId: server.id, settings });
    } finally {
      closeSync(log);
    }
  }

  /** The VM is gone: everything on it dies at once. */
  private powerOff(id: string): void {
    const host = this.booted.get(id);
    if (!host) return;
    this.booted.delete(id);
    try {
      host.child.kill('SIGKILL');
    } catch {
      // already gone
    }
    const gears = [...gearProcessesUnder(join(this.home, 'nodes')).values()].flat().filter((each) => each.node === host.name);
    for (const gear of gears) {
      try {
        process.kill(gear.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
