/**
 * How long ago an ISO 8601 time was, the way `oc get` shows ages: `12s`, `5m`, `3h`, `2d`
 * followed by " ago"; `never` for null. A time in the future (clock skew between the broker and
 * this machine) reads `just now` rather than a negative age.
 */
export function formatAge(iso: string | null, now: number): string {
  if (iso === null) return 'never';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.floor((now - then) / 1000);
  if (seconds < 1) return 'just now';
  if (seconds < 120) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}
