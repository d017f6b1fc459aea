import { connect } from 'node:net';

import type { Logger } from 'pino';

import { parseEndpoint } from './endpoint-address.ts';
import { DEFAULT_PROBE_POLICY, ejectEndpoint, recordProbe, retainEndpoints, type EjectedEndpoints, type ProbePolicy } from './endpoint-health.ts';

/** Answers whether something accepts TCP connections at `endpoint` within `timeoutMs`. */
export type EndpointProbe = (endpoint: string, timeoutMs: number) => Promise<boolean>;

/**
 * Runs the passive-health state of `endpoint-health.ts`: the proxy reports failures, this takes
 * the endpoint out and probes it on its backoff schedule until it accepts a connection again.
 * The probe is a TCP connect rather than `GET /`: an app that answers 500 on `/` is still alive,
 * and the router must not depend on what an app serves.
 */
export class BackendHealth {
  private state: EjectedEndpoints = new Map();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly log: Logger,
    private readonly policy: ProbePolicy = DEFAULT_PROBE_POLICY,
    private readonly probe: EndpointProbe = tcpProbe,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Hot path: one Map lookup. */
  readonly isDown = (endpoint: string): boolean => this.state.has(endpoint);

  ejected(): EjectedEndpoints {
    return this.state;
  }

  eject(endpoint: string, reason: string): void {
    if (this.closed || this.state.has(endpoint)) return;
    this.state = ejectEndpoint(this.state, endpoint, reason, this.clock(), this.policy);
    this.log.warn({ endpoint, reason }, 'gear endpoint taken out of rotation; probing it');
    this.schedule(endpoint);
  }

  /** Stops probing endpoints that no route lists any more. */
  retain(listed: ReadonlySet<string>): void {
    this.state = retainEndpoints(this.state, listed);
    for (const [endpoint, timer] of this.timers) {
      if (this.state.has(endpoint)) continue;
      clearTimeout(timer);
      this.timers.delete(endpoint);
    }
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private schedule(endpoint: string): void {
    const entry = this.state.get(endpoint);
    if (entry === undefined || this.closed) return;
    const timer = setTimeout(() => void this.runProbe(endpoint), Math.max(0, entry.nextProbeAt - this.clock()));
    // Probes alone must not keep a process alive.
    timer.unref();
    this.timers.set(endpoint, timer);
  }

  private async runProbe(endpoint: string): Promise<void> {
    this.timers.delete(endpoint);
    const ok = await this.probe(endpoint, Math.min(2_000, this.policy.maxDelayMs)).catch(() => false);
    if (this.closed || !this.state.has(endpoint)) return;
    this.state = recordProbe(this.state, endpoint, ok, this.clock(), this.policy);
    if (ok) this.log.info({ endpoint }, 'gear endpoint answers again; back in rotation');
    else this.schedule(endpoint);
  }
}

export const tcpProbe: EndpointProbe = (endpoint, timeoutMs) =>
  new Promise((resolve) => {
    const address = parseEndpoint(endpoint);
    if (address === undefined) return resolve(false);
    const socket = connect({ host: address.host, port: address.port });
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
