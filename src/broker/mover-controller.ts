import type { Logger } from 'pino';

import type { Store } from '../store/store.ts';
import type { ChangeNotifier } from './change-notifier.ts';
import type { DrainExecutor } from './drain-executor.ts';
import type { MoveExecutor } from './move-executor.ts';

/** How often running moves and drains are looked at when nothing wakes the controller. */
const TICK_MS = 200;

/**
 * Drives every running move and drain forward, one phase at a time, until each ends. It keeps
 * no state of its own: each pass reads the running operations from the journal, so a broker
 * that restarts picks up exactly where the last one stopped (finishing or rolling back every
 * move). A change anywhere (an agent's report, a new move) wakes it at once.
 */
export class MoverController {
  private stopped = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<Store, 'listOperations'>,
    private readonly moves: MoveExecutor,
    private readonly drains: DrainExecutor,
    private readonly changes: ChangeNotifier,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopped = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    await this.loop;
  }

  /** One pass over every running operation; returns true when any of them moved on. */
  async passOnce(): Promise<boolean> {
    let progressed = false;
    const running = await this.store.listOperations({ status: ['running'] });
    // Moves first: a drain decides what to start from how its moves stand.
    for (const operation of running.filter((each) => each.kind === 'move')) {
      try {
        // A move may take several phases in one pass (each written before it is carried out).
        while (await this.moves.step(operation.id)) progressed = true;
      } catch (error) {
        this.log.error({ err: error, operation: operation.id }, 'a move step failed; retrying on the next pass');
      }
    }
    for (const operation of running.filter((each) => each.kind === 'drain')) {
      try {
        if (await this.drains.step(operation.id)) progressed = true;
      } catch (error) {
        this.log.error({ err: error, operation: operation.id }, 'a drain step failed; retrying on the next pass');
      }
    }
    return progressed;
  }

  private async run(): Promise<void> {
    while (!this.stopped.signal.aborted) {
      let progressed = false;
      try {
        progressed = await this.passOnce();
      } catch (error) {
        this.log.error({ err: error }, 'mover pass failed');
      }
      if (!progressed) await this.changes.wait(TICK_MS, this.stopped.signal);
    }
  }
}
