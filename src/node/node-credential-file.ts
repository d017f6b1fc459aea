import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

/** What a node agent keeps from its registration, in `<state-dir>/credential.json` (mode 0600). */
export interface StoredNodeCredential {
  /** The broker that issued it: a credential is only offered back to the broker it came from. */
  readonly brokerUrl: string;
  readonly name: string;
  readonly credential: string;
  readonly heartbeatIntervalSeconds: number;
  /** The endpoint the agent registered with (absent in files written before it was kept). */
  readonly endpoint?: string;
}

export function readNodeCredential(path: string): StoredNodeCredential | undefined {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as Partial<StoredNodeCredential>;
    if (typeof value.brokerUrl !== 'string' || typeof value.name !== 'string' || typeof value.credential !== 'string' || typeof value.heartbeatIntervalSeconds !== 'number') return undefined;
    return value as StoredNodeCredential;
  } catch {
    return undefined;
  }
}

/** Written 0600 to a temporary file and renamed, so the secret is never world-readable, even briefly. */
export function writeNodeCredential(path: string, value: StoredNodeCredential): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value)}\n`, { mode: 0o600 });
  // An older file of the same name may have had another mode: writeFileSync keeps it.
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}
