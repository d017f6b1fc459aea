import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

import { ConflictError, NotFoundError } from '../../core/errors.ts';
import { CreateTokenBody, CreateUserBody, Login, ErrorBody, Id, Items, TokenView, UserView } from '../api-schemas.ts';
import { tokenView, userView } from '../api-views.ts';
import type { BrokerContext } from '../broker-context.ts';
import { createUserWithToken } from '../bootstrap-admin.ts';
import { hashCredential, newUserToken } from '../credentials.ts';
import { requireAdmin, requireUser } from '../request-auth.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export function registerUserRoutes(server: FastifyInstance, context: BrokerContext): void {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = context;

  app.get('/user', { schema: { tags: ['users'], summary: 'The calling user', response: { 200: Type.Intersect([UserView, Type.Object({ gearsUsed: Type.Integer() })]), ...errors } } }, async (request) => {
    const user = requireUser(request.principal);
    return { ...userView(user), gearsUsed: await store.countUserGears(user.id) };
  });

  app.post('/users', { schema: { tags: ['users'], summary: 'Create a user and its first token (admin)', body: CreateUserBody, response: { 201: Type.Object({ user: UserView, token: Type.String() }), ...errors } } }, async (request, reply) => {
    requireAdmin(request.principal);
    const { user, token } = await createUserWithToken(store, {
      login: request.body.login,
      role: request.body.role ?? 'user',
      maxGears: request.body.maxGears ?? context.config.defaultMaxGears,
      now: clock(),
    });
    await context.events.record({ kind: 'user.created', subject: `user:${user.login}`, message: `user ${user.login} created with role ${user.role}`, data: { user: user.id } });
    return reply.status(201).send({ user: userView(user), token });
  });

  app.get('/users', { schema: { tags: ['users'], summary: 'List users (admin)', response: { 200: Items(UserView), ...errors } } }, async (request) => {
    requireAdmin(request.principal);
    return { items: (await store.listUsers()).map(userView) };
  });

  app.delete('/users/:login', { schema: { tags: ['users'], summary: 'Delete a user with no domains (admin)', params: Type.Object({ login: Login }), response: { 204: Type.Null(), ...errors } } }, async (request, reply) => {
    const admin = requireAdmin(request.principal);
    const user = await store.getUserByLogin(request.params.login);
    if (!user) throw new NotFoundError('user', request.params.login, 'login');
    if (user.id === admin.id) throw new ConflictError('cannot_delete_self', 'an admin cannot delete its own user', { field: 'login' });
    await store.deleteUser(user.id);
    await context.events.record({ kind: 'user.deleted', subject: `user:${user.login}`, message: `user ${user.login} deleted`, data: { user: user.id } });
    return reply.status(204).send(null);
  });

  app.post('/user/tokens', { schema: { tags: ['users'], summary: 'Create a token for the calling user (shown once)', body: Type.Optional(CreateTokenBody), response: { 201: Type.Intersect([TokenView, Type.Object({ token: Type.String() })]), ...errors } } }, async (request, reply) => {
    const user = requireUser(request.principal);
    const now = clock();
    const token = newUserToken();
    const body = request.body ?? {};
    const created = await store.createToken({
      userId: user.id,
      name: body.name ?? 'cli',
      tokenHash: hashCredential(token),
      expiresAt: body.expiresInSeconds === undefined ? null : now + body.expiresInSeconds * 1000,
      now,
    });
    return reply.status(201).send({ ...tokenView(created), token });
  });

  app.get('/user/tokens', { schema: { tags: ['users'], summary: "The calling user's tokens (never their values)", response: { 200: Items(TokenView), ...errors } } }, async (request) => {
    const user = requireUser(request.principal);
    return { items: (await store.listTokens(user.id)).map(tokenView) };
  });

  app.delete('/user/tokens/:id', { schema: { tags: ['users'], summary: 'Revoke a token', params: Type.Object({ id: Id }), response: { 204: Type.Null(), ...errors } } }, async (request, reply) => {
    const user = requireUser(request.principal);
    if (!(await store.deleteToken(user.id, request.params.id))) throw new NotFoundError('token', request.params.id, 'id');
    return reply.status(204).send(null);
  });
}
