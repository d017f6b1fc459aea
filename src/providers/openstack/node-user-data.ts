import { parse as parseYaml } from 'yaml';

/**
 * What a new node host needs to join the pool: the cloud-init user-data both OpenStack providers
 * give a server. It writes `/etc/geartide/node.env` (mode 0600: it holds the bootstrap token) and
 * a systemd unit that runs `geartide node` with those settings, then starts it. The node image
 * must have cloud-init, systemd and `geartide` on the PATH (Node.js 20 and this package
 * installed); docs/openstack.md says how to build one.
 */
export interface NodeBootSettings {
  readonly brokerUrl: string;
  readonly bootstrapToken: string;
  /** The name the agent registers with: the server's name. */
  readonly nodeName: string;
  readonly district: string;
  readonly profile: string;
  readonly maxActiveGears: number;
  readonly scaleEventId: string;
  /** The agent's API port on the host; default 7481. */
  readonly agentPort?: number;
}

export const NODE_ENV_PATH = '/etc/geartide/node.env';
export const DEFAULT_AGENT_PORT = 7481;

const ENV_KEYS = {
  brokerUrl: 'GEARTIDE_BROKER_URL',
  bootstrapToken: 'GEARTIDE_BOOTSTRAP_TOKEN',
  nodeName: 'GEARTIDE_NODE_NAME',
  district: 'GEARTIDE_DISTRICT',
  profile: 'GEARTIDE_PROFILE',
  maxActiveGears: 'GEARTIDE_MAX_ACTIVE_GEARS',
  scaleEventId: 'GEARTIDE_SCALE_EVENT',
  agentPort: 'GEARTIDE_AGENT_PORT',
} as const;

/** The `#cloud-config` document for one node host. */
export function nodeUserData(settings: NodeBootSettings): string {
  const env = (Object.keys(ENV_KEYS) as (keyof typeof ENV_KEYS)[])
    .map((key) => `      ${ENV_KEYS[key]}=${String(key === 'agentPort' ? (settings.agentPort ?? DEFAULT_AGENT_PORT) : settings[key])}`)
    .join('\n');
  return `#cloud-config
# geartide node host: written by the broker's OpenStack provider.
write_files:
  - path: ${NODE_ENV_PATH}
    permissions: '0600'
    owner: root:root
    content: |
${env}
  - path: /etc/systemd/system/geartide-node.service
    permissions: '0644'
    content: |
      [Unit]
      Description=geartide node agent
      Wants=network-online.target
      After=network-online.target
      [Service]
      EnvironmentFile=${NODE_ENV_PATH}
      # The agent and its gears are reached at the host's first address.
      ExecStart=/bin/sh -c 'exec geartide node --broker "$GEARTIDE_BROKER_URL" --name "$GEARTIDE_NODE_NAME" --district "$GEARTIDE_DISTRICT" --profile "$GEARTIDE_PROFILE" --max-active-gears "$GEARTIDE_MAX_ACTIVE_GEARS" --scale-event "$GEARTIDE_SCALE_EVENT" --listen "0.0.0.0:$GEARTIDE_AGENT_PORT" --gear-host "$(hostname -I | cut -d" " -f1)"'
      Restart=always
      RestartSec=5
      [Install]
      WantedBy=multi-user.target
runcmd:
  - [systemctl, daemon-reload]
  - [systemctl, enable, --now, geartide-node.service]
`;
}

/**
 * The settings back out of a user-data document (what the node host's boot reads). Used to
 * check a template's user-data, and by the tests that stand in for cloud-init on a fake-driver
 * Nova, where no VM boots.
 */
export function parseNodeUserData(userData: string): NodeBootSettings {
  const document = parseYaml(userData) as { write_files?: { path?: string; content?: string }[] } | null;
  const file = document?.write_files?.find((each) => each.path === NODE_ENV_PATH);
  if (file?.content === undefined) throw new Error(`the user-data writes no ${NODE_ENV_PATH}`);
  const values = new Map<string, string>();
  for (const line of file.content.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) values.set(match[1]!, match[2]!);
  }
  const get = (key: keyof typeof ENV_KEYS): string => {
    const value = values.get(ENV_KEYS[key]);
    if (value === undefined) throw new Error(`${NODE_ENV_PATH} in the user-data has no ${ENV_KEYS[key]}`);
    return value;
  };
  return {
    brokerUrl: get('brokerUrl'),
    bootstrapToken: get('bootstrapToken'),
    nodeName: get('nodeName'),
    district: get('district'),
    profile: get('profile'),
    maxActiveGears: Number(get('maxActiveGears')),
    scaleEventId: get('scaleEventId'),
    agentPort: Number(values.get(ENV_KEYS.agentPort) ?? DEFAULT_AGENT_PORT),
  };
}
