import type { ScalePolicy } from '../../src/core/scale-plan.ts';

/**
 * A pool's policy with the broker's defaults in milliseconds (SCALE_UP_THRESHOLD 80, margin 10,
 * 10 minutes unneeded and after an add, …), for planner tests, the simulator's tests and the
 * planner's benchmark; each overrides what it is about.
 */
export function testScalePolicy(overrides: Partial<ScalePolicy> = {}): ScalePolicy {
  return {
    pool: 'small',
    gearProfile: 'small',
    district: null,
    minNodes: 1,
    maxNodes: 10,
    maxActiveGearsPerNode: 50,
    maxNodesPerScaleUp: 5,
    upThresholdPct: 80,
    downMarginPct: 10,
    unneededTimeMs: 600_000,
    scaleUpCooldownMs: 60_000,
    scaleDownCooldownMs: 300_000,
    delayAfterAddMs: 600_000,
    unplacedTtlMs: 140_000,
    backoffBaseMs: 30_000,
    backoffMaxMs: 600_000,
    ...overrides,
  };
}
