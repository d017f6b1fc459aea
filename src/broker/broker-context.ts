import type { Logger } from 'pino';

import type { Store } from '../store/store.ts';
import type { AppExecutor } from './app-executor.ts';
import type { AutoscalerController } from './autoscaler-controller.ts';
import type { BrokerMetrics } from './broker-metrics.ts';
import type { BrokerConfig } from './broker-config.ts';
import type { ChangeNotifier } from './change-notifier.ts';
import type { DistrictExecutor } from './district-executor.ts';
import type { DrainExecutor } from './drain-executor.ts';
import type { EventRecorder } from './event-recorder.ts';
import type { MoveExecutor } from './move-executor.ts';
import type { NodeExecutor } from './node-executor.ts';

/** What the REST routes share: the store for reads, executors for every change. */
export interface BrokerContext {
  readonly config: BrokerConfig;
  readonly store: Store;
  readonly apps: AppExecutor;
  readonly nodes: NodeExecutor;
  readonly districts: DistrictExecutor;
  readonly moves: MoveExecutor;
  readonly drains: DrainExecutor;
  readonly metrics: BrokerMetrics;
  /** The autoscaler, once the broker has started it; undefined with AUTOSCALE_PROVIDER=none. */
  readonly autoscaler: () => AutoscalerController | undefined;
  readonly events: EventRecorder;
  /** Wakes watchers (node agents, routers) after a change they may see. */
  readonly changes: ChangeNotifier;
  readonly clock: () => number;
  readonly log: Logger;
  readonly version: string;
}
