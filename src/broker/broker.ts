import { readFileSync } from 'node:fs';

import swagger from '@fastify/swagger';
import { Type } from '@sinclair/typebox';
import { Ajv, type Options as AjvOptions } from 'ajv';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';

import { NotFoundError } from '../core/errors.ts';
import { openStore } from '../store/open-store.ts';
import type { Store } from '../store/store.ts';
import { AppExecutor } from './app-executor.ts';
import { AutoscalerController } from './autoscaler-controller.ts';
import { BrokerMetrics } from './broker-metrics.ts';
import { CapacityGate } from './capacity-gate.ts';
import { createPoolProviders } from './pool-providers.ts';
import { ScaleExecutor } from './scale-executor.ts';
import { placementOrderFor } from './scale-snapshot.ts';
import type { Provider } from '../providers/provider.ts';
import { ChangeNotifier } from './change-notifier.ts';
import type { BrokerConfig } from './broker-config.ts';
import type { BrokerContext } from './broker-context.ts';
import { DistrictExecutor } from './district-executor.ts';
import { DrainExecutor } from './drain-executor.ts';
import { DEFAULT_MOVE_SETTINGS, MoveExecutor } from './move-executor.ts';
import { MoverController } from './mover-controller.ts';
import { EventRecorder } from './event-recorder.ts';
import { sendError } from './http-errors.ts';
import { NodeExecutor } from './node-executor.ts';
import { NodeHealthController } from './node-health-controller.ts';
import { resolvePrincipal, type Principal } from './request-auth.ts';
import { registerConsoleRoutes } from './console-routes.ts';
import { registerAppRoutes } from './routes/app-routes.ts';
import { registerAutoscalerRoutes } from './routes/autoscaler-routes.ts';
import { registerDistrictRoutes } from './routes/district-routes.ts';
import { registerEventRoutes } from './routes/event-routes.ts';
import { registerMoveRoutes } from './routes/move-routes.ts';
import { registerNodeRoutes } from './routes/node-routes.ts';
import { registerRouteTableRoutes } from './routes/route-table-routes.ts';
import { registerSourceRoutes } from './routes/source-routes.ts';
import { registerUserRoutes } from './routes/user-routes.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export const API_PREFIX = '/api/v1';

export interface BrokerOptions {
  readonly config: BrokerConfig;
  /** An open store to use (tests); by default the broker opens config.datastoreUrl and closes it on close(). */
  readonly store?: Store;
  readonly clock?: () => number;
  readonly log?: Logger;
  /** Run the background controllers (node health). Tests of the API alone turn them off. */
  readonly controllers?: boolean;
  /** Listen on the network. `false`: build the app only, for in-process `inject` tests. */
  readonly listen?: boolean;
  /** Extra environment for node agents a local provider starts (tests shorten their intervals). */
  readonly agentEnv?: NodeJS.ProcessEnv;
  /** Runs once the API listens and before any controller starts (`up` makes its district here). */
  readonly prepare?: (context: BrokerContext) => Promise<void>;
  /**
   * The pools' providers, instead of those AUTOSCALE_PROVIDER names (tests that compare the
   * broker with the simulator give it the simulator's provider). The broker closes them.
   */
  readonly providers?: ReadonlyMap<string, Provider>;
}

export interface RunningBroker {
  /** Base URL of the broker, e.g. http://127.0.0.1:7480 (the configured public URL when set). */
  readonly url: string;
  readonly server: FastifyInstance;
  readonly context: BrokerContext;
  /** Drives moves and drains; tests without controllers call its passOnce(). */
  readonly mover: MoverController;
  /** The autoscaler (AUTOSCALE_PROVIDER not `none`); tests without controllers call its passOnce(). */
  readonly autoscaler: AutoscalerController | undefined;
  /** The pools' providers, by pool name (empty without autoscaling). */
  readonly providers: ReadonlyMap<string, Provider>;
  close(): Promise<void>;
}

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function createBrokerLogger(level: string): Logger {
  // Tokens travel in the Authorization header and in registration responses; never log them.
  return pino({ level, redact: { paths: ['req.headers.authorization', '*.token', '*.credential', '*.password'], censor: '[redacted]' } });
}

export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const { config } = options;
  const log = options.log ?? createBrokerLogger(config.logLevel);
  const clock = options.clock ?? Date.now;
  const store = options.store ?? (await openStore(config.datastoreUrl));
  const events = new EventRecorder(store, clock);
  const changes = new ChangeNotifier();
  const metrics = new BrokerMetrics(store, config.autoscale);
  // Autoscaled profiles pack their gears (docs/autoscaler.md), for creates, moves and drains alike.
  const placementOrder = (gearProfile: string) => placementOrderFor(config.autoscale, gearProfile);
  const moves = new MoveExecutor(store, events, changes, clock, log, { ...DEFAULT_MOVE_SETTINGS, moveDeadlineMs: config.moveCopyTimeoutSeconds * 1000 }, (outcome, ms) => metrics.moveEnded(outcome, ms), placementOrder);
  const drains = new DrainExecutor(store, events, changes, moves, clock, log, placementOrder);
  // Set once the providers exist (they need the broker's URL); the gate wakes it on a refusal.
  let autoscaler: AutoscalerController | undefined;
  const gate = config.autoscale.provider === 'none' ? undefined : new CapacityGate(store, config.autoscale, changes, clock, () => autoscaler?.wake());
  const context: BrokerContext = {
    config,
    store,
    events,
    changes,
    clock,
    log,
    version: VERSION,
    apps: new AppExecutor(store, events, changes, config, clock, gate, placementOrder),
    nodes: new NodeExecutor(store, events, config, clock),
    districts: new DistrictExecutor(store, events, config, clock),
    moves,
    drains,
    metrics,
    autoscaler: () => autoscaler,
  };

  const server = await buildServer(context);
  const health = new NodeHealthController(store, events, config, clock, log);
  const mover = new MoverController(store, moves, drains, changes, log);
  let url = config.publicUrl ?? '';
  let providers: Map<string, Provider> = new Map();
  try {
    if (options.listen !== false) {
      await server.listen({ host: config.host, port: config.port });
      const address = server.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : config.port;
      url = config.publicUrl ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    }
    await options.prepare?.(context);
    providers = options.providers ? new Map(options.providers) : await createPoolProviders(config, { brokerUrl: url, log, ...(options.agentEnv ? { agentEnv: options.agentEnv } : {}) });
    if (providers.size > 0) {
      const scaler = new ScaleExecutor(
        store,
        events,
        changes,
        drains,
        providers,
        { provisionTimeoutSeconds: config.autoscale.provisionTimeoutSeconds, drainParallel: config.drainParallel, drainDeadlineSeconds: config.drainDeadlineSeconds },
        clock,
        log,
        metrics,
      );
      autoscaler = new AutoscalerController(store, config.autoscale, providers, scaler, events, changes, clock, log, metrics);
    }
    if (options.controllers !== false) {
      health.start();
      // Resumes every move and drain a previous broker left unfinished (the journal says where).
      mover.start();
      // Resumes every scale operation first thing in its first pass.
      autoscaler?.start();
    }
  } catch (error) {
    for (const provider of providers.values()) await provider.close().catch(() => undefined);
    await server.close();
    if (!options.store) await store.close();
    throw error;
  }

  return {
    url,
    server,
    context,
    mover,
    autoscaler,
    providers,
    async close() {
      await autoscaler?.stop();
      await mover.stop();
      await health.stop();
      // Local node agents live as long as their broker (`geartide up`); cloud hosts are untouched.
      // IMPORTANT: before the server closes, because stopping agents report their gears stopped.
      for (const provider of providers.values()) {
        // One provider failing to let go must not keep the server open.
        await provider.close().catch((error: unknown) => log.warn({ err: error, provider: provider.kind }, 'a provider did not close cleanly'));
      }
      await server.close();
      if (!options.store) await store.close();
    },
  };
}

async function buildServer(context: BrokerContext): Promise<FastifyInstance> {
  // The instance is typed with the plain base logger; pino's Logger is a superset of it.
  const { config, store, log } = context;
  const server = Fastify({
    loggerInstance: log,
    // Per-request lines would cost more than the requests; errors are logged by sendError.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.apiBodyLimit,
    // `events --follow` streams stay open; closing the broker must not wait for them.
    forceCloseConnections: true,
    return503OnClosing: true,
  });

  // Bodies are validated strictly: "3" is not an integer and an unknown field is an error.
  // Query strings and path parameters are text by nature, so there types are coerced.
  const strict = newAjv({ coerceTypes: false });
  const coercing = newAjv({ coerceTypes: 'array' });
  server.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart !== 'body') return coercing.compile(schema);
    const validate = strict.compile(schema);
    // A POST without a body is validated as {} so a missing field is named, not "body must be object".
    return (data: unknown) => {
      const ok = validate(data === undefined || data === null ? {} : data);
      return ok ? { value: data } : { error: Object.assign(new Error('validation failed'), { validation: validate.errors }) };
    };
  });

  // Set by the onRequest hook below before any handler runs.
  server.decorateRequest('principal', null as never);
  server.setErrorHandler((error, request, reply) => sendError(error, request, reply, log));
  server.setNotFoundHandler((request, reply) => sendError(new NotFoundError('route', `${request.method} ${request.url.split('?')[0]}`), request, reply, log));

  await server.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'geartide broker API', version: context.version, description: 'Apps, gears, districts and node hosts of a geartide platform.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  await server.register(
    async (api) => {
      api.addHook('onRequest', async (request) => {
        request.principal = await resolvePrincipal(request.headers.authorization, store, config, context.clock());
      });
      api.get('/health', { schema: { tags: ['health'], summary: 'Liveness and the store in use (no auth)', security: [], response: { 200: Type.Object({ status: Type.String(), store: Type.String(), version: Type.String() }) } } }, async () => {
        await store.listDistricts();
        return { status: 'ok', store: store.dialect, version: context.version };
      });
      api.get('/openapi.json', { schema: { hide: true } }, async () => server.swagger());
      registerUserRoutes(api, context);
      registerAppRoutes(api, context);
      await registerSourceRoutes(api, context);
      registerDistrictRoutes(api, context);
      registerNodeRoutes(api, context);
      registerEventRoutes(api, context);
      registerRouteTableRoutes(api, context);
      registerMoveRoutes(api, context);
      registerAutoscalerRoutes(api, context);
    },
    { prefix: API_PREFIX },
  );
  registerConsoleRoutes(server as unknown as FastifyInstance, API_PREFIX);
  // Prometheus scrapes without a token, as it does everywhere: the figures carry no secret.
  server.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-type', context.metrics.registry.contentType);
    return context.metrics.registry.metrics();
  });
  await server.ready();
  return server as unknown as FastifyInstance;
}

function newAjv(options: Pick<AjvOptions, 'coerceTypes'>): Ajv {
  const ajv = new Ajv({ ...options, removeAdditional: false, useDefaults: true, allErrors: false, strict: false });
  // The formats the schemas use, checked without pulling in ajv-formats.
  ajv.addFormat('date-time', true);
  ajv.addFormat('uri', (value: string) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  });
  return ajv;
}
