import type { EventSeverity, PlatformEvent } from '../core/model.ts';
import type { Store } from '../store/store.ts';
import { ChangeNotifier } from './change-notifier.ts';

export interface EventInput {
  readonly kind: string;
  readonly severity?: EventSeverity;
  readonly subject: string;
  readonly message: string;
  readonly userId?: string | null;
  readonly data?: Record<string, unknown>;
}

/**
 * Writes events to the store and wakes up `events --follow` streams of this broker at once.
 * The store stays the one source of truth: followers re-read it after a wake-up (and on a
 * timer, so events written by another broker replica reach them too).
 */
export class EventRecorder {
  private readonly recorded = new ChangeNotifier();

  constructor(
    private readonly store: Pick<Store, 'appendEvent'>,
    private readonly clock: () => number,
  ) {}

  async record(input: EventInput): Promise<PlatformEvent> {
    const event = await this.store.appendEvent({
      kind: input.kind,
      severity: input.severity ?? 'info',
      subject: input.subject,
      message: input.message,
      userId: input.userId ?? null,
      data: input.data ?? {},
      now: this.clock(),
    });
    this.recorded.notify();
    return event;
  }

  /** Resolves when an event is recorded here, after `timeoutMs`, or when `signal` aborts. */
  waitForEvent(timeoutMs: number, signal: AbortSignal): Promise<void> {
    return this.recorded.wait(timeoutMs, signal);
  }
}
