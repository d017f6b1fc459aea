import type { Logger } from 'pino';

import { GeartideError, InputError, type ErrorCategory } from '../core/errors.ts';
import type { GearCounts, GearObservedState } from '../core/model.ts';
import { parseDesiredGearSet, type DesiredGearSet } from './desired-gear.ts';
import type { MoveTokenVerdict } from './move-token-verifier.ts';
import { readNodeCredential, writeNodeCredential } from './node-credential-file.ts';

/** What a node agent tells the broker about itself when it registers. */
export interface NodeRegistration {
  readonly name: string;
  readonly gearProfile: string;
  readonly maxActiveGears: number;
  /** The agent's own HTTP URL. */
  readonly endpoint: string;
  readonly district?: string;
  readonly scaleEventId?: string;
}

/** A request the broker answered with an error status, or could not be reached (status 0). */
export class BrokerRequestError extends GeartideError {
  constructor(
    readonly status: number,
    message: string,
    readonly brokerCode?: string,
  ) {
    super(status === 0 ? 'broker_unreachable' : 'broker_refused', categoryOf(status), message, { status, ...(brokerCode ? { brokerCode } : {}) });
    this.name = 'BrokerRequestError';
  }

  /** Worth retrying as is: the broker is down, overloaded or restarting. */
  get transient(): boolean {
    return this.category === 'transient';
  }
}

function categoryOf(status: number): ErrorCategory {
  if (status === 0 || status === 429 || status >= 500) return 'transient';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  return 'input';
}

const API = '/api/v1';

/**
 * The node agent's side of the broker API. It owns the node credential: read from the state dir
 * at start, obtained by registering with the bootstrap token when there is none (or when the
 * broker no longer accepts it: 401), and never logged.
 */
export class NodeBrokerClient {
  private credential: string | undefined;
  private registering: Promise<void> | undefined;
  heartbeatIntervalSeconds = 10;

  constructor(
    private readonly options: {
      readonly brokerUrl: string;
      readonly bootstrapToken: string | undefined;
      readonly registration: NodeRegistration;
      readonly credentialFile: string;
      readonly log: Logger;
    },
  ) {
    const stored = readNodeCredential(options.credentialFile);
    if (stored && stored.brokerUrl === this.brokerUrl && stored.name === options.registration.name) {
      this.credential = stored.credential;
      this.heartbeatIntervalSeconds = stored.heartbeatIntervalSeconds;
      this.registeredEndpoint = stored.endpoint;
    }
  }

  /** The endpoint the stored credential was registered with (undefined: unknown). */
  registeredEndpoint: string | undefined;

  get brokerUrl(): string {
    return this.options.brokerUrl.replace(/\/+$/, '');
  }

  get hasCredential(): boolean {
    return this.credential !== undefined;
  }

  /** Whether a registration is still owed (asked for by `registerSoon`, not yet accepted). */
  private registrationOwed = false;

  /**
   * Registers again before the next authorized call, however long the broker takes to answer:
   * for an agent that could not register at start and carries on with its stored credential,
   * so the broker still learns its current endpoint once it is back.
   */
  registerSoon(): void {
    this.registrationOwed = true;
  }

  /** Registers (again) and stores the new credential. Concurrent callers share one registration. */
  register(): Promise<void> {
    this.registering ??= this.registerOnce().finally(() => (this.registering = undefined));
    return this.registering;
  }

  private async registerOnce(): Promise<void> {
    const { bootstrapToken, registration } = this.options;
    if (bootstrapToken === undefined) {
      throw new InputError(this.credential === undefined ? 'no node credential is stored and no bootstrap token was given (--bootstrap-token or GEARTIDE_BOOTSTRAP_TOKEN)' : 'the broker refused the stored node credential and no bootstrap token was given to register again', 'bootstrap-token');
    }
    const body = await this.send('POST', '/nodes/register', bootstrapToken, {
      name: registration.name,
      gearProfile: registration.gearProfile,
      maxActiveGears: registration.maxActiveGears,
      endpoint: registration.endpoint,
      ...(registration.district !== undefined ? { district: registration.district } : {}),
      ...(registration.scaleEventId !== undefined ? { scaleEventId: registration.scaleEventId } : {}),
    });
    const { credential, heartbeatIntervalSeconds } = body.json as { credential: string; heartbeatIntervalSeconds: number };
    writeNodeCredential(this.options.credentialFile, { brokerUrl: this.brokerUrl, name: registration.name, credential, heartbeatIntervalSeconds, endpoint: registration.endpoint });
    this.registeredEndpoint = registration.endpoint;
    this.credential = credential;
    this.heartbeatIntervalSeconds = heartbeatIntervalSeconds;
    this.options.log.info({ heartbeatIntervalSeconds }, 'registered with the broker');
  }

  async heartbeat(facts: { maxActiveGears: number; gears: GearCounts }): Promise<void> {
    await this.authorized('POST', `/nodes/${this.name}/heartbeat`, facts);
  }

  /**
   * The node's desired gears: at once when `since` is null, else when they differ from `since`
   * or after `waitSeconds` ('unchanged', the broker's 304). Aborting `signal` cancels the wait.
   */
  async watchGears(since: string | null, waitSeconds: number, signal: AbortSignal): Promise<DesiredGearSet | 'unchanged'> {
    const query = since === null ? '' : `?since=${encodeURIComponent(since)}&wait=${waitSeconds}`;
    const timeout = AbortSignal.timeout((waitSeconds + 15) * 1000);
    const response = await this.authorized('GET', `/nodes/${this.name}/gears${query}`, undefined, AbortSignal.any([signal, timeout]));
    if (response.status === 304) return 'unchanged';
    return parseDesiredGearSet(response.json);
  }

  /** 'not-found': the broker no longer places this gear on this node. */
  async reportGear(gearId: string, state: { observedState: GearObservedState; endpoint: string | null }): Promise<'ok' | 'not-found'> {
    try {
      await this.authorized('PUT', `/nodes/${this.name}/gears/${encodeURIComponent(gearId)}`, state);
      return 'ok';
    } catch (error) {
      if (error instanceof BrokerRequestError && error.status === 404) return 'not-found';
      throw error;
    }
  }

  /** The app's source as a gzipped tar. */
  async fetchSource(gearId: string): Promise<Uint8Array> {
    const response = await this.authorized('GET', `/nodes/${this.name}/gears/${encodeURIComponent(gearId)}/source`, undefined, AbortSignal.timeout(120_000), true);
    return response.bytes!;
  }

  /**
   * `POST /nodes/:name/moves/verify`: is `token` the token of move `moveId`, and which of this
   * node's gears does it open? Never throws: an unreachable broker is `unavailable`, any answer but
   * 200 `{gearId}` is `refused`.
   */
  async verifyMoveToken(moveId: string, token: string): Promise<MoveTokenVerdict> {
    // IMPORTANT: not `authorized()`, because a 401 here may be the broker refusing the move token,
    // and must not make the agent throw its own credential away and register again. A stale
    // credential is noticed, and renewed, by the heartbeat.
    if (this.credential === undefined) return { ok: false, reason: 'unavailable', detail: 'this node is not registered yet' };
    try {
      const response = await this.send('POST', `/nodes/${this.name}/moves/verify`, this.credential, { moveId, token }, AbortSignal.timeout(10_000));
      const gearId = (response.json as { gearId?: unknown } | undefined)?.gearId;
      if (response.status !== 200 || typeof gearId !== 'string' || gearId.length === 0) return { ok: false, reason: 'refused', detail: `the broker answered ${response.status} without a gear id` };
      return { ok: true, gearId };
    } catch (error) {
      const transient = (error instanceof BrokerRequestError && error.transient) || (error as Error).name === 'TimeoutError';
      return { ok: false, reason: transient ? 'unavailable' : 'refused', detail: (error as Error).message };
    }
  }

  /**
   * `PUT /nodes/:name/moves/:moveId`: the target's copy is running (health passed) or failed.
   * 'not-found': the broker has no such move any more (rolled back meanwhile); nothing to report.
   */
  async reportMove(moveId: string, report: { state: 'started'; endpoint: string; pauseMs: number } | { state: 'failed'; error: string }): Promise<'ok' | 'not-found'> {
    try {
      await this.authorized('PUT', `/nodes/${this.name}/moves/${encodeURIComponent(moveId)}`, report);
      return 'ok';
    } catch (error) {
      if (error instanceof BrokerRequestError && error.status === 404) return 'not-found';
      throw error;
    }
  }

  private get name(): string {
    return encodeURIComponent(this.options.registration.name);
  }

  /** A request with the node credential; on 401, registers again once and retries. */
  private async authorized(method: string, path: string, body?: unknown, signal?: AbortSignal, binary = false): Promise<{ status: number; json?: unknown; bytes?: Uint8Array }> {
    if (this.credential === undefined) await this.register();
    else if (this.registrationOwed) {
      try {
        await this.register();
      } catch (error) {
        // Unreachable: try again on the next call. Refused: the stored credential still serves.
        if (error instanceof BrokerRequestError && error.transient) throw error;
        this.options.log.warn({ err: (error as Error).message }, 'the broker refused to register this node again; going on with the stored credential');
      }
      this.registrationOwed = false;
    }
    const credential = this.credential!;
    try {
      return await this.send(method, path, credential, body, signal, binary);
    } catch (error) {
      if (!(error instanceof BrokerRequestError) || error.status !== 401) throw error;
      // Another request may have re-registered already; only register when ours is still the stale credential.
      if (this.credential === credential) {
        this.options.log.warn('the broker no longer accepts this node credential; registering again');
        await this.register();
      }
      return this.send(method, path, this.credential!, body, signal, binary);
    }
  }

  private async send(method: string, path: string, token: string, body?: unknown, signal?: AbortSignal, binary = false): Promise<{ status: number; json?: unknown; bytes?: Uint8Array }> {
    const url = `${this.brokerUrl}${API}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (signal?.aborted && (error as Error).name === 'AbortError') throw error;
      throw new BrokerRequestError(0, `broker ${this.brokerUrl} unreachable (${method} ${API}${path}): ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`);
    }
    if (response.status === 304 || response.status === 204) return { status: response.status };
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      let code: string | undefined;
      let message = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = parsed.error?.code;
        message = parsed.error?.message ?? message;
      } catch {
        // not the broker's JSON error (a proxy's page): keep the text
      }
      throw new BrokerRequestError(response.status, `broker answered ${response.status} to ${method} ${API}${path}: ${message}`, code);
    }
    if (binary) return { status: response.status, bytes: new Uint8Array(await response.arrayBuffer()) };
    return { status: response.status, json: await response.json() };
  }
}
