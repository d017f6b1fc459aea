import type { ChildProcess } from 'node:child_process';

import type { Logger } from 'pino';

import type { GearObservedState } from '../core/model.ts';
import { findCartridge } from './cartridges/cartridge-catalog.ts';
import type { Cartridge } from './cartridges/cartridge.ts';
import type { DesiredGear, DesiredMove } from './desired-gear.ts';
import type { GearDirectory, GearPaths } from './gear-directory.ts';
import type { GearAction, LocalGear, SupervisionPolicy } from './gear-plan.ts';
import { chooseGearPort } from './gear-port.ts';
import { signalGearGroup, spawnGearProcess, stopGearProcess } from './gear-process.ts';
import type { GearRecord } from './gear-record.ts';
import { probeGearHealth } from './health-check.ts';
import type { NodeBrokerClient } from './node-broker-client.ts';
import { isProcessStopped, isSameProcess } from './process-identity.ts';
import { pullGearCopy } from './pull-gear-copy.ts';
import { installSourceArchive } from './source-archive.ts';

/** The variables of the agent's own environment a gear inherits; everything else (tokens!) stays out. */
const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'] as const;

export interface GearExecutorOptions {
  readonly directory: GearDirectory;
  readonly broker: Pick<NodeBrokerClient, 'reportGear' | 'fetchSource' | 'reportMove'>;
  readonly gearHost: string;
  readonly policy: SupervisionPolicy;
  /** How long a gear has to exit after its stop signal before SIGKILL. */
  readonly stopGraceMs: number;
  readonly log: Logger;
  /** Called when a gear process this agent spawned exits, or a copy ends, so the reconciler looks at once. */
  readonly onProcessExit: () => void;
  /** Time, for pauses; tests may move it. Default: Date.now. */
  readonly clock?: () => number;
}

/**
 * Carries out planned gear actions: the only code in the agent that spawns or kills processes,
 * writes gear directories or reports to the broker. It keeps every gear's record in memory and
 * writes it through to gear.json after each change, so a killed agent restarts from the last
 * completed step.
 */
export class GearExecutor {
  private readonly records = new Map<string, GearRecord>();
  private readonly children = new Map<string, ChildProcess>();
  /** Incoming copies running in the background, by gear. */
  private readonly pulls = new Map<string, { readonly abort: AbortController; readonly done: Promise<void> }>();

  constructor(private readonly options: GearExecutorOptions) {
    for (const record of options.directory.list()) this.records.set(record.id, record);
  }

  list(): GearRecord[] {
    return [...this.records.values()];
  }

  /**
   * Looks at a gear: is its recorded process alive (pid and start time), and, for a starting
   * gear, does it pass its health check. Adopted processes (spawned by a previous agent) are
   * watched this way too, as they are not this agent's children.
   */
  async observe(record: GearRecord): Promise<LocalGear> {
    const processAlive = isSameProcess(record.pid, record.pidStartTime);
    let healthy = false;
    if (processAlive && record.phase === 'starting' && record.port !== null) {
      const cartridge = findCartridge(record.cartridge);
      if (cartridge) healthy = await probeGearHealth(this.options.gearHost, record.port, cartridge.healthCheck);
    }
    const processStopped = processAlive && isProcessStopped(record.pid!);
    return { record, processAlive, healthy, processStopped, pullInProgress: this.pulls.has(record.id) };
  }

  /** Runs one action. Throws when it could not be done; the reconciler decides again next pass. */
  async execute(action: GearAction, now: number): Promise<void> {
    switch (action.kind) {
      case 'create':
        return this.create(action.desired);
      case 'remember-desired':
        return this.update(action.gearId, rememberDesired(action.desired));
      case 'install-source':
        return this.installSource(action.gearId, action.sourceVersion, now);
      case 'start':
        return this.start(action.gearId, action.restartGeneration, now);
      case 'restart':
        await this.stop(action.gearId);
        return this.start(action.gearId, action.restartGeneration, Date.now());
      case 'stop':
        return this.stop(action.gearId);
      case 'mark-running':
        return this.update(action.gearId, { phase: 'running', runningSince: now });
      case 'mark-crashed':
        return this.markCrashed(action.gearId, action.crashCount, action.nextStartAt);
      case 'reset-crashes':
        return this.update(action.gearId, { crashCount: 0 });
      case 'remove':
        return this.remove(action.gearId);
      case 'report':
        return this.report(action.gearId, action.observedState, action.endpoint);
      case 'pull':
        return this.pull(action.desired, action.move);
      case 'report-move-started':
        return this.reportMoveStarted(action.gearId, action.moveId, action.endpoint, action.pauseMs);
      case 'report-move-failed':
        return this.reportMoveFailed(action.gearId, action.moveId, action.error);
      case 'settle-incoming':
        return this.update(action.gearId, { incoming: null });
      case 'resume':
        return this.resume(action.gearId);
      case 'confirm-pause': {
        const pause = this.record(action.gearId).pause;
        if (pause) this.update(action.gearId, { pause: { ...pause, confirmed: true } });
        return;
      }
    }
  }

  /** The gear's directory when the gear is on this node (for the move source routes). */
  gearRoot(gearId: string): string | undefined {
    return this.records.has(gearId) ? this.paths(gearId).root : undefined;
  }

  /**
   * Pauses a gear for its move's final copy: SIGSTOP to its process group, recorded with the
   * deadline of the pause. Asked again for the same move, it stops the gear again but keeps the
   * first deadline, so repeated asks cannot hold a gear longer. False when the gear has no live
   * process (nothing can change its files but the agent itself).
   */
  pauseForMove(gearId: string, moveId: string): boolean {
    const record = this.records.get(gearId);
    if (!record || record.incoming) return false;
    if (!isSameProcess(record.pid, record.pidStartTime)) return false;
    const now = (this.options.clock ?? Date.now)();
    const previous = record.pause ?? null;
    const until = previous?.moveId === moveId ? previous.until : now + this.options.policy.movePauseLimitMs;
    // Recorded before the signal: an agent killed in between still knows to release it.
    this.update(gearId, { pause: { moveId, until, confirmed: previous?.moveId === moveId && previous.confirmed } });
    signalGearGroup(record.pid!, 'SIGSTOP');
    return true;
  }

  /** Releases every paused gear: a pause means nothing once this agent no longer serves its move. */
  resumeAll(): void {
    for (const record of this.list()) if (record.pause) this.resume(record.id);
  }

  /** Stops every gear process (agent shutdown without --keep-gears); they start again with the agent. */
  async stopAll(): Promise<void> {
    for (const { abort } of this.pulls.values()) abort.abort();
    await Promise.all([...this.pulls.values()].map((pull) => pull.done));
    await Promise.all(this.list().map((record) => this.stop(record.id).catch((error: unknown) => this.options.log.error({ err: error, gear: record.id }, 'could not stop gear'))));
  }

  private record(gearId: string): GearRecord {
    const record = this.records.get(gearId);
    if (!record) throw new Error(`gear ${gearId} is not on this node`);
    return record;
  }

  private update(gearId: string, changes: Partial<GearRecord>): void {
    const next = { ...this.record(gearId), ...changes, id: gearId };
    this.options.directory.write(next);
    this.records.set(gearId, next);
  }

  private paths(gearId: string): GearPaths {
    return this.options.directory.paths(gearId);
  }

  private create(desired: DesiredGear, extra: Partial<GearRecord> = {}): void {
    const record: GearRecord = {
      id: desired.id,
      ...rememberDesired(desired),
      phase: 'stopped',
      port: null,
      pid: null,
      pidStartTime: null,
      startedAt: null,
      runningSince: null,
      restartGeneration: desired.restartGeneration,
      sourceVersion: null,
      crashCount: 0,
      nextStartAt: null,
      sourceFailures: 0,
      nextSourceAttemptAt: null,
      reported: null,
      incoming: null,
      pause: null,
      ...extra,
    };
    this.options.directory.create(record);
    this.records.set(record.id, record);
    this.options.log.info({ gear: record.id, app: `${record.app}-${record.domain}`, cartridge: record.cartridge }, 'gear created');
  }

  private cartridge(record: GearRecord): Cartridge {
    const cartridge = findCartridge(record.cartridge);
    if (!cartridge) throw new Error(`this node has no cartridge '${record.cartridge}'`);
    return cartridge;
  }

  private async start(gearId: string, restartGeneration: number, now: number): Promise<void> {
    const record = this.record(gearId);
    const paths = this.paths(gearId);
    try {
      const cartridge = this.cartridge(record);
      // IMPORTANT: clear out any process still carrying this gear's GEAR_DIR before spawning,
      // because one may have been started by an agent killed before it wrote gear.json, and a
      // gear must never run twice.
      await stopGearProcess({ pid: record.pid, startTime: record.pidStartTime, signal: 'SIGKILL', graceMs: 0, gearDir: paths.root });
      const port = await chooseGearPort(this.options.gearHost, record.port);
      cartridge.prepare(paths.app, { gearId, app: record.app, domain: record.domain }, record.sourceVersion !== null);
      const spawned = await spawnGearProcess(cartridge.command(paths.app), this.gearEnvironment(record, paths, port), paths.logFile);
      // Written before anything else can fail, so a restarted agent finds (and adopts) this process.
      this.update(gearId, { phase: 'starting', pid: spawned.pid, pidStartTime: spawned.startTime, port, startedAt: now, runningSince: null, nextStartAt: null, restartGeneration });
      this.watchChild(gearId, spawned.child);
      this.options.log.info({ gear: gearId, pid: spawned.pid, port, restartGeneration }, 'gear process started');
    } catch (error) {
      // A gear that cannot even be spawned is a crash: same backoff, same `failed` after N.
      const crashCount = record.crashCount + 1;
      const delay = Math.min(this.options.policy.crashBackoffMaxMs, this.options.policy.crashBackoffInitialMs * 2 ** (crashCount - 1));
      this.update(gearId, { phase: 'backoff', pid: null, pidStartTime: null, crashCount, nextStartAt: now + delay, restartGeneration });
      throw error;
    }
  }

  private watchChild(gearId: string, child: ChildProcess): void {
    this.children.set(gearId, child);
    child.once('exit', (code, signal) => {
      if (this.children.get(gearId) === child) this.children.delete(gearId);
      this.options.log.info({ gear: gearId, pid: child.pid, code, signal }, 'gear process exited');
      this.options.onProcessExit();
    });
  }

  private gearEnvironment(record: GearRecord, paths: GearPaths, port: number): Record<string, string> {
    const env: Record<string, string> = {};
    for (const key of INHERITED_ENV) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    return {
      ...env,
      HOME: paths.root,
      PORT: String(port),
      HOST: this.options.gearHost,
      GEAR_ID: record.id,
      GEAR_UID: String(record.uid),
      GEAR_DIR: paths.root,
      GEAR_DATA_DIR: paths.data,
      APP_NAME: record.app,
      APP_DOMAIN: record.domain,
      // OpenShift v2 names, so apps written for it find their way.
      OPENSHIFT_GEAR_UUID: record.id,
      OPENSHIFT_APP_NAME: record.app,
      OPENSHIFT_APP_UUID: record.appId,
      OPENSHIFT_NAMESPACE: record.domain,
      OPENSHIFT_DATA_DIR: `${paths.data}/`,
      OPENSHIFT_REPO_DIR: `${paths.app}/`,
      OPENSHIFT_LOG_DIR: `${paths.log}/`,
    };
  }

  private async stop(gearId: string): Promise<void> {
    const record = this.record(gearId);
    const cartridge = findCartridge(record.cartridge);
    await stopGearProcess({ pid: record.pid, startTime: record.pidStartTime, signal: cartridge?.stopSignal ?? 'SIGTERM', graceMs: this.options.stopGraceMs, gearDir: this.paths(gearId).root });
    if (record.pid !== null) this.options.log.info({ gear: gearId, pid: record.pid }, 'gear process stopped');
    this.update(gearId, { phase: 'stopped', pid: null, pidStartTime: null, runningSince: null, crashCount: 0, nextStartAt: null });
  }

  private async markCrashed(gearId: string, crashCount: number, nextStartAt: number): Promise<void> {
    const record = this.record(gearId);
    // A gear that failed its start timeout may still be alive: it must not linger beside the next one.
    await stopGearProcess({ pid: record.pid, startTime: record.pidStartTime, signal: 'SIGKILL', graceMs: 0, gearDir: this.paths(gearId).root });
    this.options.log.warn({ gear: gearId, crashCount, restartInMs: nextStartAt - Date.now(), log: this.paths(gearId).logFile }, 'gear crashed');
    this.update(gearId, { phase: 'backoff', pid: null, pidStartTime: null, runningSince: null, crashCount, nextStartAt });
  }

  private async remove(gearId: string): Promise<void> {
    // A copy still coming in is abandoned first, so nothing writes into the directory being deleted.
    const pull = this.pulls.get(gearId);
    if (pull) {
      pull.abort.abort();
      await pull.done;
    }
    const record = this.record(gearId);
    await stopGearProcess({ pid: record.pid, startTime: record.pidStartTime, signal: findCartridge(record.cartridge)?.stopSignal ?? 'SIGTERM', graceMs: this.options.stopGraceMs, gearDir: this.paths(gearId).root });
    this.options.directory.remove(gearId);
    this.records.delete(gearId);
    this.options.log.info({ gear: gearId }, 'gear removed');
  }

  private async installSource(gearId: string, sourceVersion: number, now: number): Promise<void> {
    const record = this.record(gearId);
    try {
      const archive = await this.options.broker.fetchSource(gearId);
      await installSourceArchive(archive, this.paths(gearId).app);
      this.update(gearId, { sourceVersion, sourceFailures: 0, nextSourceAttemptAt: null });
      this.options.log.info({ gear: gearId, sourceVersion, bytes: archive.byteLength }, 'gear source installed');
    } catch (error) {
      const sourceFailures = record.sourceFailures + 1;
      const delay = Math.min(this.options.policy.crashBackoffMaxMs, this.options.policy.sourceRetryInitialMs * 2 ** (sourceFailures - 1));
      this.update(gearId, { sourceFailures, nextSourceAttemptAt: now + delay });
      throw error;
    }
  }

  private resume(gearId: string): void {
    const record = this.record(gearId);
    if (isSameProcess(record.pid, record.pidStartTime)) signalGearGroup(record.pid!, 'SIGCONT');
    this.update(gearId, { pause: null });
    this.options.log.info({ gear: gearId, move: record.pause?.moveId }, 'gear resumed');
  }

  /**
   * Creates the directory of a gear arriving by a move, recorded as an incoming copy before any
   * file lands in it, and starts copying in the background (a copy can take minutes; the other
   * gears' supervision must not wait). Its end wakes the reconciler, which reads the outcome
   * from the record.
   */
  private pull(desired: DesiredGear, move: Extract<DesiredMove, { role: 'target' }>): void {
    this.create(desired, { incoming: { moveId: move.id, state: 'copying', pauseRequestedAt: null, error: null }, sourceVersion: desired.sourceVersion });
    const gearId = desired.id;
    const abort = new AbortController();
    const root = this.paths(gearId).root;
    const done = pullGearCopy({ url: move.source, moveId: move.id, token: move.token }, root, { signal: abort.signal, log: this.options.log.child({ gear: gearId, move: move.id }), ...(this.options.clock ? { clock: this.options.clock } : {}) })
      .then(
        (result) => {
          if (this.records.has(gearId) && !abort.signal.aborted) this.update(gearId, { incoming: { moveId: move.id, state: 'copied', pauseRequestedAt: result.pauseRequestedAt, error: null } });
        },
        (error: unknown) => {
          if (!this.records.has(gearId) || abort.signal.aborted) return;
          this.options.log.warn({ gear: gearId, move: move.id, err: (error as Error).message }, 'gear copy failed');
          this.update(gearId, { incoming: { moveId: move.id, state: 'failed', pauseRequestedAt: null, error: (error as Error).message } });
        },
      )
      .finally(() => {
        this.pulls.delete(gearId);
        this.options.onProcessExit();
      });
    this.pulls.set(gearId, { abort, done });
  }

  private async reportMoveStarted(gearId: string, moveId: string, endpoint: string, pauseMs: number): Promise<void> {
    const outcome = await this.options.broker.reportMove(moveId, { state: 'started', endpoint, pauseMs });
    if (outcome === 'not-found') this.options.log.info({ gear: gearId, move: moveId }, 'the broker no longer has this move; the gear goes when it leaves the desired list');
    const incoming = this.record(gearId).incoming!;
    this.update(gearId, { incoming: { ...incoming, state: 'started-reported' } });
  }

  private async reportMoveFailed(gearId: string, moveId: string, error: string): Promise<void> {
    const record = this.record(gearId);
    // A failed copy must not serve: it is stopped before the broker hears of the failure.
    await stopGearProcess({ pid: record.pid, startTime: record.pidStartTime, signal: 'SIGKILL', graceMs: 0, gearDir: this.paths(gearId).root });
    this.update(gearId, { phase: 'stopped', pid: null, pidStartTime: null, runningSince: null });
    await this.options.broker.reportMove(moveId, { state: 'failed', error });
    this.update(gearId, { incoming: { moveId, state: 'failure-reported', pauseRequestedAt: record.incoming?.pauseRequestedAt ?? null, error } });
  }

  private async report(gearId: string, observedState: GearObservedState, endpoint: string | null): Promise<void> {
    const outcome = await this.options.broker.reportGear(gearId, { observedState, endpoint });
    // not-found: the gear is no longer this node's; the next desired set removes it. Remembered
    // as reported all the same, so the agent does not keep asking.
    if (outcome === 'not-found') this.options.log.info({ gear: gearId }, 'the broker no longer places this gear here');
    this.update(gearId, { reported: { observedState, endpoint } });
  }
}

function rememberDesired(desired: DesiredGear): Pick<GearRecord, 'uid' | 'app' | 'appId' | 'domain' | 'cartridge' | 'gearProfile' | 'desiredState'> {
  return { uid: desired.uid, app: desired.app, appId: desired.appId, domain: desired.domain, cartridge: desired.cartridge, gearProfile: desired.gearProfile, desiredState: desired.desiredState };
}
