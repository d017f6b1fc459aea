import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { createUserWithToken } from '../broker/bootstrap-admin.ts';
import { geartideHome, loadBrokerConfig, parseBrokerConf } from '../broker/broker-config.ts';
import { startBroker, type RunningBroker } from '../broker/broker.ts';
import { hashCredential, newUserToken } from '../broker/credentials.ts';
import { LocalProvider } from '../providers/local/local-provider.ts';
import { createRouterLogger, startRouter, type RunningRouter } from '../router/router.ts';

export const UP_BROKER_PORT = 7480;
export const UP_ROUTER_PORT = 7481;
const DEFAULT_DISTRICT = 'default';
const UP_NODES = 2;
const UP_MAX_ACTIVE_GEARS = 50;
/** How long `up` waits for its node agents to register before it says they are slow. */
const REGISTRATION_WAIT_MS = 30_000;

/**
 * The platform `geartide up` runs: broker on the embedded store, router, and the local provider
 * with a default district and two node agents. A second `up` on the same $GEARTIDE_HOME reuses
 * its store, its secrets, its admin token and its node hosts.
 *
 * Start order: broker, router, agents (they register with the broker). Stop order is the
 * reverse, so agents can still report their gears stopped while the broker listens.
 */
export interface UpPlatform {
  readonly broker: RunningBroker;
  readonly router: RunningRouter;
  readonly provider: LocalProvider;
  readonly brokerUrl: string;
  readonly routerUrl: string;
  readonly token: string;
  readonly banner: string;
  close(): Promise<void>;
}

interface CliConfigFile {
  brokerUrl?: string;
  routerUrl?: string;
  token?: string;
}

export async function startUp(options: { env: NodeJS.ProcessEnv; agentEnv?: NodeJS.ProcessEnv }): Promise<UpPlatform> {
  const home = geartideHome(options.env);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const confPath = join(home, 'broker.conf');
  ensureUpSecrets(confPath);

  // `up` runs the autoscaler on the local provider: the pool of the default gear size keeps at
  // least UP_NODES node agents, grows when apps fill them and shrinks back when they are idle.
  // broker.conf (and the environment) can change any of it.
  const config = loadBrokerConfig({
    env: options.env,
    defaults: { AUTOSCALE_PROVIDER: 'local', AUTOSCALE_MIN_NODES: String(UP_NODES), AUTOSCALE_NODE_MAX_ACTIVE_GEARS: String(UP_MAX_ACTIVE_GEARS) },
  });
  let token: string | undefined;
  const configPath = join(home, 'config.json');
  const broker = await startBroker({
    config,
    ...(options.agentEnv ? { agentEnv: options.agentEnv } : {}),
    // Before the autoscaler's first pass: the district its nodes join, and the admin credential.
    prepare: async (context) => {
      const { store } = context;
      const previous = readCliConfig(configPath);
      const now = Date.now();
      // Reuse the admin token of an earlier `up` while it still works; otherwise issue one.
      token = previous.token;
      if (token === undefined || !(await store.findUserByTokenHash(hashCredential(token), now))) {
        const admin = await store.getUserByLogin('admin');
        if (admin) {
          token = newUserToken();
          await store.createToken({ userId: admin.id, name: 'geartide up', tokenHash: hashCredential(token), expiresAt: null, now });
        } else {
          token = (await createUserWithToken(store, { login: 'admin', role: 'admin', maxGears: 10_000, now })).token;
        }
      }
      if (!(await store.getDistrictByName(DEFAULT_DISTRICT))) await context.districts.create({ name: DEFAULT_DISTRICT });
    },
  }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`port ${config.port} is in use: is another geartide up running? Set BROKER_PORT in ${confPath} to use another`);
    }
    throw error;
  });
  // What to undo, in reverse, on stop or on a failed start. The broker closes its providers,
  // which stop the local node agents: it is undone last, after the router.
  const stack: (() => Promise<void>)[] = [() => broker.close()];
  try {
    const { store } = broker.context;

    const router = await startRouter({
      broker: { url: broker.url, token: config.routerToken! },
      host: config.host,
      port: config.routerPublicPort,
      cloudDomain: config.cloudDomain,
      log: createRouterLogger(config.logLevel),
    }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new Error(`port ${config.routerPublicPort} is in use: set ROUTER_PUBLIC_PORT in ${confPath} to use another`);
      }
      throw error;
    });
    stack.push(() => router.close());

    const provider = broker.providers.get(config.autoscale.pools[0]!.name);
    if (!(provider instanceof LocalProvider)) throw new Error(`geartide up runs node agents with the local provider; broker.conf sets AUTOSCALE_PROVIDER=${config.autoscale.provider}`);
    // The autoscaler brings the pool to its minimum on its first pass; wait for that many.
    const wanted = Math.max(1, config.autoscale.pools[0]!.minNodes);
    const deadline = Date.now() + REGISTRATION_WAIT_MS;
    while ((await provider.targetSize()) < wanted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const names = (await provider.nodes()).map((node) => node.name);
    const registered = await waitForNodes(store, names, REGISTRATION_WAIT_MS);

    const routerUrl = `http://${config.cloudDomain}:${config.routerPublicPort}`;
    writeFileSync(configPath, `${JSON.stringify({ brokerUrl: broker.url, routerUrl, token }, null, 2)}\n`, { mode: 0o600 });
    chmodSync(configPath, 0o600);

    const banner = [
      'geartide is up',
      `  broker   ${broker.url}  (store: ${store.dialect}, ${config.datastoreUrl.replace(/^sqlite:/, '')})`,
      `  router   ${routerUrl}  (apps at http://<app>-<domain>.${config.cloudDomain}:${config.routerPublicPort}/)`,
      `  nodes    ${names.map((name) => `${name}${registered.has(name) ? '' : ' (not registered yet: see its agent.log)'}`).join(', ')} in district ${DEFAULT_DISTRICT} (${config.defaultGearSize})`,
      `  config   ${configPath}  (the CLI reads the broker URL and your admin token from here)`,
      `  console  ${broker.url}/console  (sign in with that admin token)`,
      '',
      'Try:  npx geartide domain create demo',
      '      npx geartide app create hello nodejs -n demo',
      `      curl http://hello-demo.${config.cloudDomain}:${config.routerPublicPort}/`,
      'Stop: Ctrl-C',
      '',
    ].join('\n');
    const close = async () => {
      for (const step of stack.reverse()) await step();
    };
    return { broker, router, provider, brokerUrl: broker.url, routerUrl, token: token!, banner, close };
  } catch (error) {
    for (const step of stack.reverse()) await step().catch(() => undefined);
    throw error;
  }
}

/**
 * The first `up` writes a broker.conf with the ports and fresh secrets; a later one adds any
 * secret an older home lacks, and otherwise leaves the operator's file alone.
 */
function ensureUpSecrets(path: string): void {
  if (!existsSync(path)) {
    const text = [
      '# broker.conf written by the first `geartide up`; every key is documented in docs/broker-conf.md.',
      `BROKER_PORT="${UP_BROKER_PORT}"`,
      `ROUTER_PUBLIC_PORT="${UP_ROUTER_PORT}"`,
      '',
    ].join('\n');
    writeFileSync(path, text, { mode: 0o600 });
  }
  const existing = parseBrokerConf(readFileSync(path, 'utf8'), path);
  const missing: string[] = [];
  if (!existing.has('NODE_BOOTSTRAP_TOKEN')) missing.push('# Node agents started by `up` register with this secret.', `NODE_BOOTSTRAP_TOKEN="${randomBytes(24).toString('base64url')}"`);
  if (!existing.has('ROUTER_TOKEN')) missing.push('# The router started by `up` reads the route table with this secret.', `ROUTER_TOKEN="${randomBytes(24).toString('base64url')}"`);
  if (missing.length > 0) appendFileSync(path, `${missing.join('\n')}\n`, { mode: 0o600 });
}

/** Resolves with the names that registered (active) within `timeoutMs`. */
async function waitForNodes(store: RunningBroker['context']['store'], names: readonly string[], timeoutMs: number): Promise<Set<string>> {
  const deadline = Date.now() + timeoutMs;
  const registered = new Set<string>();
  while (registered.size < names.length && Date.now() < deadline) {
    for (const name of names) if ((await store.getNodeByName(name))?.state === 'active') registered.add(name);
    if (registered.size < names.length) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return registered;
}

function readCliConfig(path: string): CliConfigFile {
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CliConfigFile;
  } catch {
    // A damaged config.json is rewritten below; the store keeps the real state.
    return {};
  }
}
