/**
 * Passive health of gear endpoints, as pure transitions over an immutable map of the endpoints
 * that are taken out (an endpoint absent from the map is live). The proxy ejects an endpoint
 * when a connection to it is refused, reset or times out; a background prober connects to it on
 * a backoff schedule and puts it back on the first success.
 *
 *        connection refused/reset/timeout          probe fails: failures+1, next probe later
 *   live ────────────────────────────────▶ out ◀──┐
 *     ▲                                     │     │
 *     └──────────── probe connects ─────────┴─────┘
 */
export interface EjectedEndpoint {
  /** When it was taken out (ms). */
  readonly since: number;
  /** Why, in words: "connect ECONNREFUSED". */
  readonly reason: string;
  /** Probes that failed since it was taken out. */
  readonly failedProbes: number;
  /** When the prober should next try it (ms). */
  readonly nextProbeAt: number;
}

export type EjectedEndpoints = ReadonlyMap<string, EjectedEndpoint>;

export interface ProbePolicy {
  /** Delay before the first probe; doubles after each failed probe… */
  readonly initialDelayMs: number;
  /** …up to this. */
  readonly maxDelayMs: number;
}

export const DEFAULT_PROBE_POLICY: ProbePolicy = { initialDelayMs: 250, maxDelayMs: 5_000 };

export function probeDelay(failedProbes: number, policy: ProbePolicy): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(failedProbes, 30));
}

/** Takes `endpoint` out. An endpoint already out keeps its schedule (a burst of failures is one event). */
export function ejectEndpoint(state: EjectedEndpoints, endpoint: string, reason: string, now: number, policy: ProbePolicy): EjectedEndpoints {
  if (state.has(endpoint)) return state;
  const next = new Map(state);
  next.set(endpoint, { since: now, reason, failedProbes: 0, nextProbeAt: now + probeDelay(0, policy) });
  return next;
}

/** A probe answered (`ok`: back in) or failed (stay out, probe again later). */
export function recordProbe(state: EjectedEndpoints, endpoint: string, ok: boolean, now: number, policy: ProbePolicy): EjectedEndpoints {
  const entry = state.get(endpoint);
  if (entry === undefined) return state;
  const next = new Map(state);
  if (ok) {
    next.delete(endpoint);
  } else {
    const failedProbes = entry.failedProbes + 1;
    next.set(endpoint, { ...entry, failedProbes, nextProbeAt: now + probeDelay(failedProbes, policy) });
  }
  return next;
}

/** Forgets endpoints no route lists any more (a gear that moved or was deleted is not probed forever). */
export function retainEndpoints(state: EjectedEndpoints, listed: ReadonlySet<string>): EjectedEndpoints {
  let next: Map<string, EjectedEndpoint> | undefined;
  for (const endpoint of state.keys()) {
    if (listed.has(endpoint)) continue;
    next ??= new Map(state);
    next.delete(endpoint);
  }
  return next ?? state;
}
