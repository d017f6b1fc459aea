import cluster, { type Worker } from 'node:cluster';

import type { Logger } from 'pino';

/**
 * `geartide router --workers N`: N router processes sharing one listening port, so the front
 * door uses the host's cores as nginx's worker processes do. A router is one Node.js event loop;
 * it costs about three times nginx's CPU per request (bench/router.bench.ts), so a router host
 * gets its throughput from its cores.
 *
 * The primary process (this module) only supervises: node:cluster's primary accepts connections
 * and hands each to a worker in turn (keep-alive connections stay with their worker). Each
 * worker is a whole router: it follows the broker's route table itself, keeps its own gear
 * connections and passive health, and is one router to the broker (named by its pid), as
 * several routers behind a load balancer are.
 *
 * A worker that dies is started again after a pause that doubles with each death in a row
 * (RESTART_BACKOFF); one that dies before it ever listened stops the whole router instead, since
 * its siblings would fail the same way (a bad token file, a port taken).
 */

export interface RestartBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
  /** A worker up at least this long resets its slot's count of deaths in a row. */
  readonly resetAfterMs: number;
}

export const RESTART_BACKOFF: RestartBackoff = { initialMs: 500, maxMs: 30_000, resetAfterMs: 60_000 };

/** Pause before starting a worker slot again, after `deathsInARow` (≥ 1) deaths without a long run between. */
export function restartDelayMs(deathsInARow: number, backoff: RestartBackoff = RESTART_BACKOFF): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, deathsInARow - 1));
}

export interface RouterWorkersOptions {
  readonly workers: number;
  readonly log: Logger;
  /** Resolves when the router should stop (a signal). */
  readonly stopWhen: Promise<unknown>;
  /** Called once, when every worker listens, with the port they share. */
  readonly onListening: (port: number) => void;
  readonly backoff?: RestartBackoff;
  /** How long workers get to close before they are killed. Default 30 s. */
  readonly stopTimeoutMs?: number;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  startedAt: number;
  listened: boolean;
  deathsInARow: number;
  restartTimer: NodeJS.Timeout | undefined;
}

/**
 * Runs the primary until `stopWhen` resolves (then stops the workers and resolves with 0), a
 * worker fails before it ever listened (then stops the others and resolves with its exit code,
 * at least 1), or every worker has stopped cleanly (exit 0) on its own. Workers are this same
 * command line run again (node:cluster), told apart by `cluster.isWorker`; each gets its slot
 * number in GEARTIDE_ROUTER_WORKER, for whoever reads its environment.
 */
export function superviseRouterWorkers(options: RouterWorkersOptions): Promise<number> {
  const { log } = options;
  const backoff = options.backoff ?? RESTART_BACKOFF;
  // Each worker accepts on the shared socket itself (as nginx's workers do), instead of the
  // primary accepting and handing each connection over: a connection handed to a worker at the
  // instant it dies is never answered, while one waiting in the shared accept queue is taken by
  // another worker.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const slots: Slot[] = Array.from({ length: options.workers }, (_, index) => ({ index, worker: undefined, startedAt: 0, listened: false, deathsInARow: 0, restartTimer: undefined }));
  let stopping = false;
  let announced = false;
  let exitCode = 0;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const start = (slot: Slot) => {
    slot.restartTimer = undefined;
    slot.listened = false;
    slot.startedAt = Date.now();
    const worker = cluster.fork({ GEARTIDE_ROUTER_WORKER: String(slot.index) });
    slot.worker = worker;
    worker.on('listening', (address) => {
      slot.listened = true;
      log.debug({ worker: slot.index, pid: worker.process.pid }, 'router worker listening');
      if (!announced && slots.every((each) => each.listened)) {
        announced = true;
        options.onListening(address.port);
      }
    });
    worker.on('exit', (code, signal) => {
      slot.worker = undefined;
      // Exit 0 is a worker that was told to stop (a SIGTERM or Ctrl-C reaches every process of
      // the group): not a death to make up for.
      if (stopping || code === 0) {
        if (!stopping) log.info({ worker: slot.index, pid: worker.process.pid }, 'router worker stopped; not started again');
        if (slots.every((each) => each.worker === undefined && each.restartTimer === undefined)) finish(exitCode);
        return;
      }
      if (!slot.listened) {
        log.error({ worker: slot.index, code, signal }, 'router worker exited before it listened; stopping the router');
        exitCode = code !== null && code > 0 ? code : 1;
        void stop();
        return;
      }
      slot.deathsInARow = Date.now() - slot.startedAt >= backoff.resetAfterMs ? 1 : slot.deathsInARow + 1;
      const delayMs = restartDelayMs(slot.deathsInARow, backoff);
      log.error({ worker: slot.index, pid: worker.process.pid, code, signal, restartInMs: delayMs }, 'router worker died; starting it again');
      slot.restartTimer = setTimeout(() => start(slot), delayMs);
    });
  };

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    for (const slot of slots) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
    }
    const live = slots.flatMap((slot) => (slot.worker === undefined ? [] : [slot.worker]));
    if (live.length === 0) return finish(exitCode);
    for (const worker of live) worker.process.kill('SIGTERM');
    const stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
    const killer = setTimeout(() => {
      for (const worker of live) {
        if (worker.isDead()) continue;
        log.warn({ pid: worker.process.pid, stopTimeoutMs }, 'router worker did not stop in time; killing it');
        worker.process.kill('SIGKILL');
      }
    }, stopTimeoutMs);
    killer.unref();
  };

  for (const slot of slots) start(slot);
  void options.stopWhen.then(stop);
  return finished;
}
