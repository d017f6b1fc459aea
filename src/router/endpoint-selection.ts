/**
 * Round robin over an app's endpoints, skipping those taken out. Pure: the cursor lives with the
 * caller (one per route), so the rule can be tested with tables.
 *
 * Returns the index of the first endpoint at or after `cursor` (modulo the length) that is not
 * down and is not `exclude` (the endpoint a failed attempt just used), or -1 when there is none.
 * The caller stores `index + 1` as the next cursor.
 */
export function nextLiveEndpoint(endpoints: readonly string[], cursor: number, isDown: (endpoint: string) => boolean, exclude?: string): number {
  const count = endpoints.length;
  for (let step = 0; step < count; step++) {
    const index = (cursor + step) % count;
    const endpoint = endpoints[index]!;
    if (endpoint !== exclude && !isDown(endpoint)) return index;
  }
  return -1;
}
