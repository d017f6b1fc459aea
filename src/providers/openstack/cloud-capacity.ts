import type { Headroom } from '../provider.ts';

export interface NovaFlavor {
  readonly id: string;
  readonly name: string;
  readonly vcpus: number;
  /** MiB. */
  readonly ram: number;
}

/** Nova's `GET /limits` `absolute` block (-1: unlimited). */
export interface NovaLimits {
  readonly maxTotalInstances: number;
  readonly totalInstancesUsed: number;
  readonly maxTotalCores: number;
  readonly totalCoresUsed: number;
  readonly maxTotalRAMSize: number;
  readonly totalRAMUsed: number;
}

/**
 * Does the cloud's answer mean "no room" (quota or capacity), as opposed to a fault, a bad
 * request or a transient error? Nova says it with a 403 "Quota exceeded for instances: …" on
 * create, or, when creates race, a 202 and then a server in ERROR with the same words from the
 * conductor's re-check; a scheduler with no host left puts the server in ERROR with "No valid
 * host was found"; Heat repeats whichever in its `*_FAILED` reason. `status` 0: a message only.
 */
export function classifyCloudFailure(status: number, message: string): boolean {
  if (status !== 0 && status !== 403 && status !== 413 && status !== 400 && status !== 500) return false;
  return /quota exceeded|over ?quota|quota.*(exceed|reached)|exceeds? .*quota|no valid host|not enough hosts|insufficient (compute )?resources/i.test(message);
}

/**
 * How many more servers of `flavor` the project's quota allows: the least of instances, cores
 * and RAM left. When none, the reason names the quota that is full, with Nova's numbers.
 */
export function headroomFromLimits(limits: NovaLimits, flavor: NovaFlavor): Headroom {
  const left: { quota: string; nodes: number; text: string }[] = [];
  if (limits.maxTotalInstances >= 0) {
    left.push({ quota: 'instances', nodes: limits.maxTotalInstances - limits.totalInstancesUsed, text: `${limits.totalInstancesUsed} of ${limits.maxTotalInstances} instances used` });
  }
  if (limits.maxTotalCores >= 0 && flavor.vcpus > 0) {
    left.push({ quota: 'cores', nodes: Math.floor((limits.maxTotalCores - limits.totalCoresUsed) / flavor.vcpus), text: `${limits.totalCoresUsed} of ${limits.maxTotalCores} cores used, flavor ${flavor.name} needs ${flavor.vcpus}` });
  }
  if (limits.maxTotalRAMSize >= 0 && flavor.ram > 0) {
    left.push({ quota: 'ram', nodes: Math.floor((limits.maxTotalRAMSize - limits.totalRAMUsed) / flavor.ram), text: `${limits.totalRAMUsed} of ${limits.maxTotalRAMSize} MiB RAM used, flavor ${flavor.name} needs ${flavor.ram}` });
  }
  if (left.length === 0) return { nodes: null };
  const tightest = left.reduce((a, b) => (b.nodes < a.nodes ? b : a));
  const nodes = Math.max(0, tightest.nodes);
  return nodes > 0 ? { nodes } : { nodes: 0, reason: `Nova quota ${tightest.quota} reached: ${tightest.text}` };
}
