import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

import { NotFoundError } from '../../core/errors.ts';
import type { App, Domain, Gear, User } from '../../core/model.ts';
import { AppView, CreateAppBody, CreateDomainBody, DeployAppBody, DomainView, ErrorBody, GearView, Id, Items, Name, ScaleAppBody } from '../api-schemas.ts';
import { appView, domainView, gearView, NameResolver } from '../api-views.ts';
import type { BrokerContext } from '../broker-context.ts';
import { requireUser, type Principal } from '../request-auth.ts';
import { clientGone } from './watch-request.ts';

/** App ids per gear query when a list is rendered (each is a bound parameter). */
const LIST_CHUNK = 500;

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const DomainParams = Type.Object({ domain: Name });
const AppParams = Type.Object({ domain: Name, app: Name });

export function registerAppRoutes(server: FastifyInstance, context: BrokerContext): void {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock, config } = context;

  /**
   * The domain as the caller may see it. Another user's domain is reported as not found, not
   * forbidden, so names cannot be probed. Admins see every domain.
   */
  async function visibleDomain(principal: Principal, name: string): Promise<{ user: User; domain: Domain; owner: User }> {
    const user = requireUser(principal);
    const domain = await store.getDomainByName(name);
    if (!domain || (domain.ownerId !== user.id && user.role !== 'admin')) throw new NotFoundError('domain', name, 'domain');
    const owner = domain.ownerId === user.id ? user : (await store.getUser(domain.ownerId))!;
    return { user, domain, owner };
  }

  async function visibleApp(principal: Principal, domainName: string, appName: string): Promise<{ user: User; domain: Domain; owner: User; app: App }> {
    const { user, domain, owner } = await visibleDomain(principal, domainName);
    const found = await store.getApp(domain.id, appName);
    if (!found) throw new NotFoundError('app', `${domainName}/${appName}`, 'app');
    return { user, domain, owner, app: found };
  }

  async function renderApp(found: App, domainName: string, names = new NameResolver(store)) {
    return appView(found, domainName, await store.listGears({ appId: found.id }), names, config);
  }

  /** A list of apps with their gears: the gears, nodes and sources read in a few queries, not a few per app. */
  async function renderApps(apps: readonly App[], domainName: (app: App) => string) {
    const names = new NameResolver(store);
    await names.loadSources(apps);
    const gearsByApp = new Map<string, Gear[]>();
    for (let start = 0; start < apps.length; start += LIST_CHUNK) {
      for (const gear of await store.listGears({ appIds: apps.slice(start, start + LIST_CHUNK).map((each) => each.id) })) {
        const list = gearsByApp.get(gear.appId);
        if (list === undefined) gearsByApp.set(gear.appId, [gear]);
        else list.push(gear);
      }
    }
    await names.loadNodesOf([...gearsByApp.values()].flat());
    return Promise.all(apps.map((each) => appView(each, domainName(each), gearsByApp.get(each.id) ?? [], names, config)));
  }

  app.post('/domains', { schema: { tags: ['domains'], summary: 'Create a domain (namespace)', body: CreateDomainBody, response: { 201: DomainView, ...errors } } }, async (request, reply) => {
    const user = requireUser(request.principal);
    const domain = await store.createDomain({ name: request.body.name, ownerId: user.id, now: clock() });
    await context.events.record({ kind: 'domain.created', subject: `domain:${domain.name}`, message: `domain ${domain.name} created by ${user.login}`, userId: user.id });
    return reply.status(201).send(domainView(domain, user.login));
  });

  app.get('/domains', { schema: { tags: ['domains'], summary: "The caller's domains (all of them for an admin)", response: { 200: Items(DomainView), ...errors } } }, async (request) => {
    const user = requireUser(request.principal);
    const domains = await store.listDomains(user.role === 'admin' ? undefined : user.id);
    const logins = new Map((user.role === 'admin' ? await store.listUsers() : [user]).map((each) => [each.id, each.login]));
    return { items: domains.map((domain) => domainView(domain, logins.get(domain.ownerId) ?? domain.ownerId)) };
  });

  app.get('/domains/:domain', { schema: { tags: ['domains'], summary: 'Show a domain', params: DomainParams, response: { 200: DomainView, ...errors } } }, async (request) => {
    const { domain, owner } = await visibleDomain(request.principal, request.params.domain);
    return domainView(domain, owner.login);
  });

  app.delete('/domains/:domain', { schema: { tags: ['domains'], summary: 'Delete a domain that has no apps', params: DomainParams, response: { 204: Type.Null(), ...errors } } }, async (request, reply) => {
    const { domain, owner } = await visibleDomain(request.principal, request.params.domain);
    await store.deleteDomain(domain.id);
    await context.events.record({ kind: 'domain.deleted', subject: `domain:${domain.name}`, message: `domain ${domain.name} deleted`, userId: owner.id });
    return reply.status(204).send(null);
  });

  app.post('/domains/:domain/apps', { schema: { tags: ['apps'], summary: 'Create an app with a cartridge and a gear count or scale range', params: DomainParams, body: CreateAppBody, response: { 201: AppView, ...errors } } }, async (request, reply) => {
    const { user, domain, owner } = await visibleDomain(request.principal, request.params.domain);
    const { app: created, gears } = await context.apps.createApp(owner, domain, request.body, user, clientGone(reply.raw));
    return reply.status(201).send(await appView(created, domain.name, gears, new NameResolver(store), config));
  });

  app.get('/domains/:domain/apps', { schema: { tags: ['apps'], summary: 'Apps of a domain', params: DomainParams, response: { 200: Items(AppView), ...errors } } }, async (request) => {
    const { domain } = await visibleDomain(request.principal, request.params.domain);
    return { items: await renderApps(await store.listApps({ domainId: domain.id }), () => domain.name) };
  });

  app.get('/apps', { schema: { tags: ['apps'], summary: "Every app the caller can see (all for an admin)", response: { 200: Items(AppView), ...errors } } }, async (request) => {
    const user = requireUser(request.principal);
    const domains = new Map((await store.listDomains(user.role === 'admin' ? undefined : user.id)).map((domain) => [domain.id, domain.name]));
    const apps = await store.listApps(user.role === 'admin' ? {} : { ownerId: user.id });
    return { items: await renderApps(apps, (each) => domains.get(each.domainId) ?? each.domainId) };
  });

  app.get('/domains/:domain/apps/:app', { schema: { tags: ['apps'], summary: 'Show an app with its URL and gears', params: AppParams, response: { 200: AppView, ...errors } } }, async (request) => {
    const { domain, app: found } = await visibleApp(request.principal, request.params.domain, request.params.app);
    return renderApp(found, domain.name);
  });

  app.delete('/domains/:domain/apps/:app', { schema: { tags: ['apps'], summary: 'Delete an app and its gears', params: AppParams, response: { 204: Type.Null(), ...errors } } }, async (request, reply) => {
    const { domain, owner, app: found } = await visibleApp(request.principal, request.params.domain, request.params.app);
    await context.apps.deleteApp(owner, domain, found);
    return reply.status(204).send(null);
  });

  for (const action of ['start', 'stop', 'restart'] as const) {
    app.post(`/domains/:domain/apps/:app/${action}`, { schema: { tags: ['apps'], summary: `${action[0]!.toUpperCase()}${action.slice(1)} an app's gears`, params: AppParams, response: { 200: AppView, ...errors } } }, async (request) => {
      const { domain, owner, app: found } = await visibleApp(request.principal, request.params.domain, request.params.app);
      if (action === 'restart') await context.apps.restartApp(owner, domain, found);
      else await context.apps.setDesiredState(owner, domain, found, action === 'start' ? 'started' : 'stopped');
      return renderApp((await store.getAppById(found.id))!, domain.name);
    });
  }

  app.post('/domains/:domain/apps/:app/scale', { schema: { tags: ['apps'], summary: 'Set the gear count (gears) or the scale range (min, max)', params: AppParams, body: ScaleAppBody, response: { 200: AppView, ...errors } } }, async (request, reply) => {
    const { domain, owner, app: found } = await visibleApp(request.principal, request.params.domain, request.params.app);
    await context.apps.scaleApp(owner, domain, found, request.body, clientGone(reply.raw));
    return renderApp((await store.getAppById(found.id))!, domain.name);
  });

  app.post('/domains/:domain/apps/:app/deploy', { schema: { tags: ['apps'], summary: "Run another of the caller's uploaded sources: gears fetch it and restart", params: AppParams, body: DeployAppBody, response: { 200: AppView, ...errors } } }, async (request) => {
    const { user, domain, owner, app: found } = await visibleApp(request.principal, request.params.domain, request.params.app);
    await context.apps.deployApp(user, owner, domain, found, request.body.source);
    return renderApp((await store.getAppById(found.id))!, domain.name);
  });

  app.get('/gears/:id', { schema: { tags: ['apps'], summary: 'Show a gear', params: Type.Object({ id: Id }), response: { 200: Type.Intersect([GearView, Type.Object({ app: Type.String(), domain: Type.String() })]), ...errors } } }, async (request) => {
    const user = requireUser(request.principal);
    const gear = await store.getGear(request.params.id);
    const owner = gear && (await store.getAppById(gear.appId));
    const domain = owner && (await store.listDomains(user.role === 'admin' ? undefined : user.id)).find((each) => each.id === owner.domainId);
    if (!gear || !owner || !domain) throw new NotFoundError('gear', request.params.id, 'id');
    return { ...(await gearView(gear, new NameResolver(store))), app: owner.name, domain: domain.name };
  });
}
