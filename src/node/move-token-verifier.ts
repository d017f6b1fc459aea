import { createHash, timingSafeEqual } from 'node:crypto';

/** What the broker said about a move token presented to this (source) agent. */
export type MoveTokenVerdict =
  | { readonly ok: true; readonly gearId: string }
  /** `unavailable`: the broker could not be asked (down); anything else it answered is `refused`. */
  | { readonly ok: false; readonly reason: 'refused' | 'unavailable'; readonly detail: string };

/**
 * Checks a move token presented by a target agent. Non-blocking beyond one broker call;
 * idempotent. Implementations never throw: a failure is a verdict.
 */
export interface MoveTokenVerifier {
  verify(moveId: string, token: string): Promise<MoveTokenVerdict>;
}

/** The broker call the verifier makes: `POST /api/v1/nodes/:name/moves/verify {moveId, token}`. */
export type MoveTokenCheck = (moveId: string, token: string) => Promise<MoveTokenVerdict>;

const MAX_CACHED_MOVES = 1024;

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * Asks the broker on the first request of a move and remembers a good answer for the move, so
 * the manifest, archive and pause calls of one copy cost one broker round trip. Only the token's
 * hash is kept. A refusal is not cached: the next request asks again (a token the broker had not
 * yet committed when first presented still gets in).
 */
export class CachingMoveTokenVerifier implements MoveTokenVerifier {
  private readonly accepted = new Map<string, { readonly digest: Buffer; readonly gearId: string }>();

  constructor(private readonly check: MoveTokenCheck) {}

  async verify(moveId: string, token: string): Promise<MoveTokenVerdict> {
    const cached = this.accepted.get(moveId);
    if (cached) {
      // A move has one token: another one for the same move is refused without asking.
      return timingSafeEqual(cached.digest, digest(token)) ? { ok: true, gearId: cached.gearId } : { ok: false, reason: 'refused', detail: 'not the token of this move' };
    }
    const verdict = await this.check(moveId, token);
    if (verdict.ok) {
      if (this.accepted.size >= MAX_CACHED_MOVES) this.accepted.delete(this.accepted.keys().next().value!);
      this.accepted.set(moveId, { digest: digest(token), gearId: verdict.gearId });
    }
    return verdict;
  }
}
