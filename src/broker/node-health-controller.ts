import type { Logger } from 'pino';

import type { Store } from '../store/store.ts';
import type { EventRecorder } from './event-recorder.ts';

/**
 * Marks nodes whose heartbeats stopped as `lost`. Level-triggered: each pass compares every
 * node's last heartbeat with `now`, so a missed pass or a broker restart loses nothing.
 * `markLostNodes` is a conditional update, so two broker replicas running it cannot both report
 * the same node.
 */
export class NodeHealthController {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<Store, 'markLostNodes'>,
    private readonly events: EventRecorder,
    private readonly settings: { readonly nodeLostAfterSeconds: number },
    private readonly clock: () => number,
    private readonly log: Logger,
  ) {}

  start(): void {
    // Check several times per lost-after period, so a node is reported within about a third
    // of NODE_LOST_AFTER of its deadline, and at least every 5 s.
    const period = Math.min(5000, Math.max(250, (this.settings.nodeLostAfterSeconds * 1000) / 4));
    this.timer = setInterval(() => {
      this.running ??= this.checkOnce()
        .catch((error: unknown) => this.log.error({ err: error }, 'node health check failed'))
        .finally(() => (this.running = undefined));
    }, period);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  async checkOnce(): Promise<void> {
    const now = this.clock();
    const lost = await this.store.markLostNodes(now - this.settings.nodeLostAfterSeconds * 1000);
    for (const node of lost) {
      const silentFor = node.lastHeartbeatAt === null ? 'never heartbeated' : `no heartbeat for ${Math.round((now - node.lastHeartbeatAt) / 1000)} s`;
      await this.events.record({
        kind: 'node.lost',
        severity: 'warning',
        subject: `node:${node.name}`,
        message: `node ${node.name} is lost: ${silentFor} (NODE_LOST_AFTER=${this.settings.nodeLostAfterSeconds})`,
        data: { node: node.id, lastHeartbeatAt: node.lastHeartbeatAt, previousState: node.stateBeforeLost },
      });
    }
  }
}
