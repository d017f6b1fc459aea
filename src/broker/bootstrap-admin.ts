import { InputError } from '../core/errors.ts';
import type { Role, User } from '../core/model.ts';
import type { Store } from '../store/store.ts';
import { hashCredential, newUserToken } from './credentials.ts';

const LOGIN_PATTERN = /^[a-z0-9][a-z0-9._@-]{0,63}$/;

/** Creates a user and its first token in one transaction; the token is returned once, never stored. */
export async function createUserWithToken(store: Store, input: { login: string; role: Role; maxGears: number; now: number }): Promise<{ user: User; token: string }> {
  if (!LOGIN_PATTERN.test(input.login)) throw new InputError(`login '${input.login}' is invalid: lower-case letters, digits and . _ @ -, at most 64 characters`, 'login');
  const token = newUserToken();
  const user = await store.transaction(async (tx) => {
    const created = await tx.createUser(input);
    await tx.createToken({ userId: created.id, name: 'initial', tokenHash: hashCredential(token), expiresAt: null, now: input.now });
    return created;
  });
  return { user, token };
}
