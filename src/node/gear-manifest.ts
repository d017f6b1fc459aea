import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';

/** One entry of a gear directory as a move copies it (docs/moves.md, "The copy"). */
export interface ManifestEntry {
  /** Relative to the gear directory, `/`-separated. */
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink';
  readonly size: number;
  readonly mtimeMs: number;
  readonly mode: number;
}

export interface GearManifest {
  readonly files: readonly ManifestEntry[];
}

/**
 * Paths of a gear directory that belong to the agent holding it, not to the gear: its record,
 * the record's temporary file, its log, and a source install in progress. Never listed, never
 * served, never written by a copy.
 */
export function isAgentOwnPath(path: string): boolean {
  const first = path.split('/')[0]!;
  return first === 'gear.json' || first === 'gear.json.tmp' || first === 'log' || first === 'app.next' || first === 'app.previous';
}

function entryOf(path: string, stats: Stats): ManifestEntry | undefined {
  const type = stats.isSymbolicLink() ? 'symlink' : stats.isDirectory() ? 'dir' : stats.isFile() ? 'file' : undefined;
  // Sockets, FIFOs and devices cannot be copied meaningfully; a gear recreates them itself.
  if (type === undefined) return undefined;
  return { path, type, size: type === 'dir' ? 0 : stats.size, mtimeMs: stats.mtimeMs, mode: stats.mode & 0o7777 };
}

/**
 * Every file, directory and symlink under `root` (symlinks listed, never followed), parents
 * before their contents. Entries that vanish while the walk runs (the gear is writing) are
 * skipped: the next manifest of the copy notices.
 */
export function readGearManifest(root: string): GearManifest {
  const files: ManifestEntry[] = [];
  const walk = (relative: string) => {
    let names: string[];
    try {
      names = readdirSync(relative === '' ? root : join(root, relative));
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const path = relative === '' ? name : `${relative}/${name}`;
      if (isAgentOwnPath(path)) continue;
      let stats: Stats;
      try {
        stats = lstatSync(join(root, path));
      } catch {
        continue;
      }
      const entry = entryOf(path, stats);
      if (!entry) continue;
      files.push(entry);
      if (entry.type === 'dir') walk(path);
    }
  };
  walk('');
  return { files };
}

/**
 * Why a requested path may not be served from `root`, or null when it may. A path must be
 * relative and normal (no `..`, no `.`, no `//`), not the agent's own (gear.json, log/), and reach
 * its entry through real directories only: a symlinked directory on the way could lead anywhere
 * on the host, so it is refused rather than resolved.
 */
export function refuseArchivePath(root: string, path: unknown): string | null {
  if (typeof path !== 'string' || path.length === 0 || path.length > 4096) return 'not a path';
  if (path.includes('\0') || path.includes('\\')) return 'not a plain path';
  if (path.startsWith('/') || posix.normalize(path) !== path || path.split('/').some((part) => part === '..' || part === '.' || part === '')) {
    return 'not a normal path inside the gear directory';
  }
  if (isAgentOwnPath(path)) return "the agent's own file, not the gear's";
  const parts = path.split('/');
  for (let depth = 1; depth < parts.length; depth++) {
    let stats: Stats;
    try {
      stats = lstatSync(join(root, ...parts.slice(0, depth)));
    } catch {
      return null; // gone: nothing to serve, and the archive simply lacks it
    }
    if (!stats.isDirectory()) return `${parts.slice(0, depth).join('/')} is not a directory`;
  }
  return null;
}

export interface ManifestDifference {
  /** New or changed entries, parents first. */
  readonly changed: readonly ManifestEntry[];
  /** Paths the copy has that the source no longer has, deepest first (so they can be removed in order). */
  readonly removed: readonly string[];
}

function sameEntry(a: ManifestEntry, b: ManifestEntry): boolean {
  return a.type === b.type && a.size === b.size && a.mtimeMs === b.mtimeMs && a.mode === b.mode;
}

/** What must be fetched and removed so that a copy holding `have` matches `want`. */
export function diffManifest(have: ReadonlyMap<string, ManifestEntry>, want: GearManifest): ManifestDifference {
  const wanted = new Set<string>();
  const changed: ManifestEntry[] = [];
  for (const entry of want.files) {
    wanted.add(entry.path);
    const held = have.get(entry.path);
    if (!held || !sameEntry(held, entry)) changed.push(entry);
  }
  const removed = [...have.keys()].filter((path) => !wanted.has(path)).sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
  return { changed, removed };
}

/** Reads a manifest from the wire strictly: the copy acts on every path in it. */
export function parseGearManifest(body: unknown): GearManifest {
  const files = (body as { files?: unknown } | null)?.files;
  if (!Array.isArray(files)) throw new TypeError('manifest: expected {files: [...]}');
  return {
    files: files.map((value: unknown, index) => {
      const entry = (value ?? {}) as Record<string, unknown>;
      const ok =
        typeof entry.path === 'string' &&
        (entry.type === 'file' || entry.type === 'dir' || entry.type === 'symlink') &&
        typeof entry.size === 'number' &&
        typeof entry.mtimeMs === 'number' &&
        typeof entry.mode === 'number';
      if (!ok) throw new TypeError(`manifest: files[${index}] is not {path, type, size, mtimeMs, mode}`);
      const path = entry.path as string;
      if (path.startsWith('/') || posix.normalize(path) !== path || path.split('/').some((part) => part === '..' || part === '.' || part === '') || isAgentOwnPath(path)) {
        throw new TypeError(`manifest: files[${index}].path ${JSON.stringify(path)} is not a path a copy may write`);
      }
      return { path, type: entry.type as ManifestEntry['type'], size: entry.size as number, mtimeMs: entry.mtimeMs as number, mode: entry.mode as number };
    }),
  };
}
