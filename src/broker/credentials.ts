import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Bearer credentials. Each kind has a prefix so the broker knows which table to look in and an
 * operator who finds one in a paste knows what it grants. Only SHA-256 hashes are stored: the
 * tokens are 256 random bits, so a slow password hash would add nothing but latency.
 */
export const USER_TOKEN_PREFIX = 'gtu_';
export const NODE_CREDENTIAL_PREFIX = 'gtn_';

export function newUserToken(): string {
  return USER_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function newNodeCredential(): string {
  return NODE_CREDENTIAL_PREFIX + randomBytes(32).toString('base64url');
}

export function hashCredential(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Constant-time comparison, so the bootstrap token cannot be guessed byte by byte from timings. */
export function sameSecret(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}
