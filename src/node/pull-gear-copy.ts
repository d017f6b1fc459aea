import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

import type { Logger } from 'pino';
import { x as extract } from 'tar';

import { diffManifest, parseGearManifest, type GearManifest, type ManifestEntry } from './gear-manifest.ts';

export interface GearCopySource {
  /** The source agent's base URL, from the desired list. */
  readonly url: string;
  readonly moveId: string;
  readonly token: string;
}

export interface GearCopyResult {
  /** When the source was asked to pause (epoch ms); null when the copy was complete without one. */
  readonly pauseRequestedAt: number | null;
  readonly entries: number;
}

const MANIFEST_TIMEOUT_MS = 30_000;
const ARCHIVE_TIMEOUT_MS = 10 * 60_000;

/** The source agent refused or failed a copy request; the message is what the broker is told. */
export class GearCopyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GearCopyError';
  }
}

/**
 * Copies a gear directory from the source agent into `root` (docs/moves.md, "The copy"):
 * manifest, archive of everything, manifest again; when the gear wrote meanwhile, pause it, take
 * the final manifest, fetch what changed and delete what went. `root` must hold only the
 * agent's own files (gear.json, log/) when it starts.
 *
 * What the copy holds is tracked from the manifest entries actually received, never assumed from
 * a request: a file that changed while being archived is fetched again, one that vanished is not
 * believed present.
 */
export async function pullGearCopy(source: GearCopySource, root: string, options: { readonly signal: AbortSignal; readonly log: Logger; readonly clock?: () => number }): Promise<GearCopyResult> {
  const clock = options.clock ?? Date.now;
  if (source.url === '') throw new GearCopyError('the broker gave no URL for the source agent (it has no endpoint on record)');
  const have = new Map<string, ManifestEntry>();

  const first = await fetchManifest(source, options.signal);
  await fetchArchive(source, root, first.files, have, options.signal);
  const second = await fetchManifest(source, options.signal);
  let pending = diffManifest(have, second);
  if (pending.changed.length === 0 && pending.removed.length === 0) {
    options.log.info({ move: source.moveId, entries: have.size }, 'gear copied; it did not change during the copy: no pause');
    return { pauseRequestedAt: null, entries: have.size };
  }

  // From here the source gear is frozen until the broker's next phase (or 30 s): be quick.
  const pauseRequestedAt = clock();
  await call(source, 'POST', 'pause', options.signal, MANIFEST_TIMEOUT_MS);
  const final = await fetchManifest(source, options.signal);
  pending = diffManifest(have, final);
  for (const path of pending.removed) {
    rmSync(join(root, path), { recursive: true, force: true });
    have.delete(path);
  }
  for (const entry of pending.changed) {
    // A path that changed kind (file ⇄ directory ⇄ symlink) is cleared before tar writes it.
    const held = have.get(entry.path);
    if (held && held.type !== entry.type) rmSync(join(root, entry.path), { recursive: true, force: true });
  }
  await fetchArchive(source, root, pending.changed, have, options.signal);
  const missing = final.files.filter((entry) => !have.has(entry.path));
  if (missing.length > 0) throw new GearCopyError(`the source's final archive lacks ${missing.length} entries of its final manifest (first: ${missing[0]!.path})`);
  options.log.info({ move: source.moveId, entries: have.size, changed: pending.changed.length, removed: pending.removed.length }, 'gear copied with a pause for the final changes');
  return { pauseRequestedAt, entries: have.size };
}

async function call(source: GearCopySource, method: string, what: string, signal: AbortSignal, timeoutMs: number, body?: unknown): Promise<Response> {
  const url = `${source.url}/moves/${encodeURIComponent(source.moveId)}/${what}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${source.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
  } catch (error) {
    const cause = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message;
    throw new GearCopyError(`source agent ${source.url} unreachable (${method} ${what}): ${cause}`, { cause: error });
  }
  if (!response.ok) {
    const text = await response.text().catch(() => '');
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // not the agent's JSON error shape: keep the text
    }
    throw new GearCopyError(`source agent ${source.url} answered ${response.status} to ${method} ${what}: ${message}`);
  }
  return response;
}

async function fetchManifest(source: GearCopySource, signal: AbortSignal): Promise<GearManifest> {
  const response = await call(source, 'GET', 'manifest', signal, MANIFEST_TIMEOUT_MS);
  try {
    return parseGearManifest(await response.json());
  } catch (error) {
    throw new GearCopyError(`source agent ${source.url} sent an unreadable manifest: ${(error as Error).message}`, { cause: error });
  }
}

/** Fetches and extracts `entries`; records in `have` each one the archive actually carried. */
async function fetchArchive(source: GearCopySource, root: string, entries: readonly ManifestEntry[], have: Map<string, ManifestEntry>, signal: AbortSignal): Promise<void> {
  if (entries.length === 0) return;
  const requested = new Map(entries.map((entry) => [entry.path, entry]));
  const response = await call(source, 'POST', 'archive', signal, ARCHIVE_TIMEOUT_MS, { paths: [...requested.keys()] });
  if (!response.body) throw new GearCopyError(`source agent ${source.url} sent an empty archive response`);
  const received: string[] = [];
  const extractor = extract({
    cwd: root,
    strict: true,
    preserveOwner: false,
    // The source's modes exactly (an executable script stays executable), not masked by our umask.
    chmod: true,
    processUmask: 0,
    // Only what was asked for: a source cannot write gear.json, log/ or anything else of ours.
    filter: (path) => requested.has(path.replace(/\/+$/, '')),
    onReadEntry: (entry) => {
      received.push(entry.path.replace(/\/+$/, ''));
    },
  });
  try {
    await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), extractor);
  } catch (error) {
    throw new GearCopyError(`the archive from source agent ${source.url} could not be extracted: ${(error as Error).message}`, { cause: error });
  }
  for (const path of received) {
    const entry = requested.get(path);
    if (entry) have.set(path, entry);
  }
}
