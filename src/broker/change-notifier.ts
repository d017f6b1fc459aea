import { createHash } from 'node:crypto';

/**
 * Wakes long-polling watchers (node agents waiting for their desired gears, routers waiting for
 * the route table) when something they may see has changed in this broker. Watchers always
 * recompute their view from the store and compare versions, so a spurious wake-up costs one
 * query and a missed one (a change made by another broker replica) is caught by the watcher's
 * periodic re-check: the store stays the one source of truth.
 */
export class ChangeNotifier {
  private readonly waiters = new Set<() => void>();

  notify(): void {
    for (const wake of this.waiters) wake();
  }

  /** Resolves on the next notify(), after `timeoutMs`, or when `signal` aborts. */
  wait(timeoutMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** The version of a view: a digest of its JSON, so equal content has an equal version everywhere. */
export function viewVersion(view: unknown): string {
  return createHash('sha256').update(JSON.stringify(view)).digest('base64url').slice(0, 22);
}

/** How often a waiting watcher re-reads the store even without a local wake-up. */
const RECHECK_MS = 2_000;

/**
 * Long-poll: returns the view as soon as its version differs from `since` (at once when `since`
 * is absent), or `undefined` when `waitMs` passes without a change (the caller answers 304).
 */
export async function longPoll<T>(options: {
  since: string | undefined;
  waitMs: number;
  compute: () => Promise<T>;
  notifier: ChangeNotifier;
  signal: AbortSignal;
}): Promise<{ version: string; view: T } | undefined> {
  const deadline = Date.now() + options.waitMs;
  for (;;) {
    const view = await options.compute();
    const version = viewVersion(view);
    if (options.since === undefined || version !== options.since) return { version, view };
    const remaining = deadline - Date.now();
    if (remaining <= 0 || options.signal.aborted) return undefined;
    await options.notifier.wait(Math.min(remaining, RECHECK_MS), options.signal);
  }
}
