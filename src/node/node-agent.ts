import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { hostname, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import pino, { type Logger } from 'pino';

import { AgentHttpRouter } from './agent-http-router.ts';
import { AgentLock } from './agent-lock.ts';
import { GearDirectory } from './gear-directory.ts';
import { GearExecutor } from './gear-executor.ts';
import { DEFAULT_SUPERVISION_POLICY, type SupervisionPolicy } from './gear-plan.ts';
import { GearReconciler } from './gear-reconciler.ts';
import { parseListenAddress, urlHost } from './listen-address.ts';
import { registerMoveSourceRoutes } from './move-source-routes.ts';
import { CachingMoveTokenVerifier, type MoveTokenVerifier } from './move-token-verifier.ts';
import { BrokerRequestError, NodeBrokerClient } from './node-broker-client.ts';

export interface NodeAgentOptions {
  readonly brokerUrl: string;
  /** Needed to register; may be omitted when the state dir holds a credential the broker still accepts. */
  readonly bootstrapToken?: string;
  /** Default: os.hostname(). */
  readonly name?: string;
  readonly district?: string;
  /** Default: small. */
  readonly profile?: string;
  /** Default: 100. */
  readonly maxActiveGears?: number;
  readonly scaleEventId?: string;
  /** Default: $GEARTIDE_HOME/node-<name> ($GEARTIDE_HOME defaults to ~/.geartide). */
  readonly stateDir?: string;
  /** HOST:PORT of the agent's own API. Default: 127.0.0.1:0. */
  readonly listen?: string;
  /** The address gears listen on and are reported at. Default: 127.0.0.1. */
  readonly gearHost?: string;
  readonly log?: Logger;
  readonly policy?: Partial<SupervisionPolicy>;
  /** Between a gear's stop signal and SIGKILL. Default: 10 s. */
  readonly stopGraceMs?: number;
  /** Long-poll wait of the desired-gears watch, at most 60. Default: 30. */
  readonly watchWaitSeconds?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Who says whether a move token presented to this agent is good. Default: the broker, cached per move. */
  readonly moveTokenVerifier?: MoveTokenVerifier;
}

export interface RunningNodeAgent {
  readonly name: string;
  /** The agent's own API, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  readonly stateDir: string;
  /**
   * Stops heartbeats and the watch, then (stopGears, the default) every gear process; with
   * stopGears false they keep running for the next agent to adopt (an agent upgrade).
   */
  stop(options?: { stopGears?: boolean }): Promise<void>;
}

/** Retry delays while the broker is unreachable: 1 s doubling to 30 s. */
function retryDelayMs(failures: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
}

/**
 * Starts a node agent: its HTTP API, registration, heartbeats, the desired-gears watch and the
 * gear reconciler. Resolves once it listens, registered or not: a broker that is down is retried
 * forever. Rejects when the broker refuses the registration outright (wrong bootstrap token,
 * unknown district, profile mismatch) — settings only an operator can fix.
 */
export async function startNodeAgent(options: NodeAgentOptions): Promise<RunningNodeAgent> {
  const env = options.env ?? process.env;
  const name = options.name ?? hostname();
  const home = resolve(env.GEARTIDE_HOME || join(homedir(), '.geartide'));
  const stateDir = resolve(options.stateDir ?? join(home, `node-${name}`));
  const gearHost = options.gearHost ?? '127.0.0.1';
  const listen = parseListenAddress(options.listen ?? '127.0.0.1:0');
  const policy: SupervisionPolicy = { ...DEFAULT_SUPERVISION_POLICY, ...options.policy };
  const watchWaitSeconds = Math.min(60, Math.max(1, options.watchWaitSeconds ?? 30));
  const log = (options.log ?? pino({ level: 'info' })).child({ node: name });

  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const lock = AgentLock.acquire(stateDir);
  const directory = new GearDirectory(stateDir);
  let reconciler: GearReconciler | undefined;
  const executor = new GearExecutor({
    directory,
    broker: { reportGear: (...args) => client.reportGear(...args), fetchSource: (...args) => client.fetchSource(...args), reportMove: (...args) => client.reportMove(...args) },
    gearHost,
    policy,
    stopGraceMs: options.stopGraceMs ?? 10_000,
    log,
    onProcessExit: () => reconciler?.kick(),
  });
  reconciler = new GearReconciler(executor, { gearHost, policy }, log);

  const router = new AgentHttpRouter().add('GET', '/health', () => ({ status: 200, json: { status: 'ok', node: name, gears: executor.list().length } }));
  registerMoveSourceRoutes(router, {
    verifier: options.moveTokenVerifier ?? new CachingMoveTokenVerifier((moveId, token) => client.verifyMoveToken(moveId, token)),
    gears: executor,
    log,
    // The reconciler plans the pause's release (its deadline, the broker's next phase).
    onPause: () => reconciler?.kick(),
  });
  const server = createServer(router.handle);
  let url: string;
  try {
    url = await listenOn(server, listen.host, listen.port);
  } catch (error) {
    lock.release();
    throw error;
  }
  const advertisedHost = listen.host === '0.0.0.0' || listen.host === '::' ? gearHost : listen.host;
  const endpoint = `http://${urlHost(advertisedHost)}:${new URL(url).port}`;

  const client = new NodeBrokerClient({
    brokerUrl: options.brokerUrl,
    bootstrapToken: options.bootstrapToken,
    registration: {
      name,
      gearProfile: options.profile ?? 'small',
      maxActiveGears: options.maxActiveGears ?? 100,
      endpoint,
      ...(options.district !== undefined ? { district: options.district } : {}),
      ...(options.scaleEventId !== undefined ? { scaleEventId: options.scaleEventId } : {}),
    },
    credentialFile: join(stateDir, 'credential.json'),
    log,
  });

  const closeServer = () =>
    new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    });
  // A restarted agent that listens on another port (`geartide up` again, a broker that restarted
  // its local agents) registers again, with the bootstrap token when it has one: registering is
  // what tells the broker its endpoint, which a move's copy pulls from. It keeps the node's id,
  // district, state and gears; a restart on the same endpoint keeps its credential.
  const moved = client.hasCredential && client.registeredEndpoint !== endpoint && options.bootstrapToken !== undefined;
  if (!client.hasCredential || moved) {
    try {
      await client.register();
    } catch (error) {
      const transient = error instanceof BrokerRequestError && error.transient;
      // A refusal with a credential stored (a rotated bootstrap token, say) is no reason to stop
      // an agent that could carry on as before; without one it is an operator's to fix.
      if (!transient && !client.hasCredential) {
        await closeServer();
        lock.release();
        throw error;
      }
      if (transient && client.hasCredential) client.registerSoon();
      log.warn({ err: (error as Error).message }, client.hasCredential ? 'could not register again at start; going on with the stored credential' : 'broker unreachable at start; registering in the background');
    }
  }

  const stopping = new AbortController();
  // One warning per outage, not one per retry.
  let brokerDown = false;
  const brokerFailed = (what: string, error: unknown) => {
    if (stopping.signal.aborted) return;
    const transient = error instanceof BrokerRequestError && error.transient;
    if (transient && brokerDown) return;
    brokerDown ||= transient;
    log[transient ? 'warn' : 'error']({ err: (error as Error).message }, `${what} failed; retrying`);
  };
  const brokerAnswered = () => {
    if (brokerDown) log.info('broker reachable again');
    brokerDown = false;
  };

  const heartbeatLoop = (async () => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        await client.heartbeat({ maxActiveGears: options.maxActiveGears ?? 100, gears: reconciler.facts() });
        brokerAnswered();
        failures = 0;
      } catch (error) {
        failures++;
        brokerFailed('heartbeat', error);
      }
      const delay = failures === 0 ? client.heartbeatIntervalSeconds * 1000 : Math.min(retryDelayMs(failures), client.heartbeatIntervalSeconds * 1000);
      await sleep(delay, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  })();

  const watchLoop = (async () => {
    let since: string | null = null;
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        const answer = await client.watchGears(since, watchWaitSeconds, stopping.signal);
        brokerAnswered();
        failures = 0;
        if (answer !== 'unchanged') {
          reconciler.setDesired(answer.items);
          since = answer.version;
          // A broker without versions answers at once, every time: poll it at heartbeat pace instead.
          if (answer.version === null) await sleep(Math.max(2, client.heartbeatIntervalSeconds) * 1000, undefined, { signal: stopping.signal }).catch(() => undefined);
        }
      } catch (error) {
        if (stopping.signal.aborted) break;
        failures++;
        brokerFailed('watching desired gears', error);
        await sleep(retryDelayMs(failures), undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  })();

  reconciler.start();
  log.info({ url, stateDir, gears: executor.list().length }, 'node agent started');

  let stopped: Promise<void> | undefined;
  return {
    name,
    url,
    stateDir,
    stop({ stopGears = true } = {}) {
      stopped ??= (async () => {
        stopping.abort();
        await Promise.all([heartbeatLoop, watchLoop, reconciler.stop()]);
        // No gear stays frozen by a move this agent will no longer see through.
        executor.resumeAll();
        if (stopGears) await executor.stopAll();
        await closeServer();
        lock.release();
        log.info({ stopGears }, 'node agent stopped');
      })();
      return stopped;
    },
  };
}

function listenOn(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolveUrl, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      resolveUrl(`http://${urlHost(host)}:${bound}`);
    });
  });
}
