import { AuthError, ForbiddenError, GeartideError } from '../core/errors.ts';
import type { Node, User } from '../core/model.ts';
import type { Store } from '../store/store.ts';
import { hashCredential, NODE_CREDENTIAL_PREFIX, sameSecret } from './credentials.ts';

/** Who is calling: resolved once per request from its bearer token. */
export type Principal =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'user'; readonly user: User }
  | { readonly kind: 'node'; readonly node: Node }
  | { readonly kind: 'bootstrap' }
  | { readonly kind: 'router' };

export async function resolvePrincipal(
  authorization: string | undefined,
  store: Pick<Store, 'findUserByTokenHash' | 'findNodeByCredentialHash'>,
  secrets: { readonly nodeBootstrapToken: string | undefined; readonly routerToken: string | undefined },
  now: number,
): Promise<Principal> {
  if (authorization === undefined) return { kind: 'anonymous' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match) throw new GeartideError('unauthenticated', 'unauthenticated', 'the Authorization header must be "Bearer <token>"', { field: 'Authorization' });
  const token = match[1]!;
  if (token.startsWith(NODE_CREDENTIAL_PREFIX)) {
    const node = await store.findNodeByCredentialHash(hashCredential(token));
    if (!node) throw new AuthError('unknown node credential');
    return { kind: 'node', node };
  }
  if (secrets.nodeBootstrapToken !== undefined && sameSecret(token, secrets.nodeBootstrapToken)) return { kind: 'bootstrap' };
  if (secrets.routerToken !== undefined && sameSecret(token, secrets.routerToken)) return { kind: 'router' };
  const found = await store.findUserByTokenHash(hashCredential(token), now);
  if (!found) throw new AuthError('unknown or expired token');
  return { kind: 'user', user: found.user };
}

export function requireUser(principal: Principal): User {
  if (principal.kind === 'user') return principal.user;
  if (principal.kind === 'anonymous') throw new AuthError();
  throw new ForbiddenError('this endpoint is for users; node credentials, the bootstrap token and the router token cannot use it');
}

export function requireAdmin(principal: Principal): User {
  const user = requireUser(principal);
  if (user.role !== 'admin') throw new ForbiddenError('this endpoint needs the admin role');
  return user;
}

/** A node may only act as itself. Admins may read what a node reads. */
export function requireNodeOrAdmin(principal: Principal, nodeName: string, allowAdmin: boolean): void {
  if (principal.kind === 'node') {
    if (principal.node.name !== nodeName) throw new ForbiddenError(`this node credential belongs to ${principal.node.name}, not ${nodeName}`);
    return;
  }
  if (allowAdmin && principal.kind === 'user' && principal.user.role === 'admin') return;
  if (principal.kind === 'anonymous') throw new AuthError();
  throw new ForbiddenError(`only node ${nodeName}'s own credential may do this`);
}

/** The route table is for routers, and for admins who want to see it. */
export function requireRouterOrAdmin(principal: Principal): void {
  if (principal.kind === 'router') return;
  if (principal.kind === 'user' && principal.user.role === 'admin') return;
  if (principal.kind === 'anonymous') throw new AuthError();
  throw new ForbiddenError('the route table needs the router token or the admin role');
}
