import { Parser } from 'tar';
import type { ReadEntry } from 'tar';

import { InputError } from '../core/errors.ts';

export interface SourceArchiveLimits {
  /** Most entries (files, directories, links) an archive may hold. */
  readonly maxEntries: number;
  /**
   * Most bytes its files may add up to once unpacked. A few kilobytes of gzip can inflate to
   * gigabytes; node agents unpack every source they are sent, so the broker refuses bombs.
   */
  readonly maxUnpackedBytes: number;
}

export const DEFAULT_SOURCE_ARCHIVE_LIMITS: SourceArchiveLimits = { maxEntries: 20_000, maxUnpackedBytes: 1024 * 1024 * 1024 };

/** Entry types an app source may hold; devices, FIFOs and tar's exotic types have no place in one. */
const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * Checks that `archive` is a gzipped tar a node agent can safely unpack into a gear's app
 * directory: every entry a relative path that stays inside it (no `..`, not absolute), links
 * included; only files, directories and links; at most `maxEntries` entries and
 * `maxUnpackedBytes` bytes. Reads the archive without writing anything.
 *
 * Agents extract with tar, which refuses such entries itself; checking at upload as well turns
 * a gear that silently runs half an app into a 400 the user sees at once.
 *
 * Throws InputError `invalid_source` (field `body`) saying what is wrong; returns the entry count.
 */
export async function checkSourceArchive(archive: Buffer, limits: SourceArchiveLimits = DEFAULT_SOURCE_ARCHIVE_LIMITS): Promise<{ entries: number }> {
  if (archive.byteLength === 0) throw invalid('the body is empty; send the app directory as a tar.gz (Content-Type: application/gzip)');
  if (archive[0] !== GZIP_MAGIC[0] || archive[1] !== GZIP_MAGIC[1]) {
    throw invalid('the body is not gzip-compressed; send the app directory as a tar.gz (Content-Type: application/gzip)');
  }
  return new Promise((resolve, reject) => {
    let entries = 0;
    let unpackedBytes = 0;
    let refused: InputError | undefined;
    // strict: a warning (bad checksum, truncated input, unknown format) is an error, not a skipped entry.
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        entry.resume();
        if (refused !== undefined) return;
        entries += 1;
        unpackedBytes += entry.size;
        const problem =
          entries > limits.maxEntries
            ? `the archive has more than ${limits.maxEntries} entries`
            : unpackedBytes > limits.maxUnpackedBytes
              ? `the archive unpacks to more than ${limits.maxUnpackedBytes} bytes`
              : entryProblem(entry);
        if (problem !== undefined) {
          refused = invalid(problem);
          // Stops reading: the rest of a refused archive is of no interest, however large.
          parser.abort(refused);
        }
      },
    });
    parser.on('error', (error: Error & { code?: string }) => {
      reject(refused ?? invalid(`the body is not a valid tar.gz: ${describeTarError(error)}`));
    });
    parser.on('end', () => {
      if (refused !== undefined) return reject(refused);
      if (entries === 0) return reject(invalid('the archive holds no files'));
      resolve({ entries });
    });
    try {
      parser.end(archive);
    } catch (error) {
      reject(refused ?? invalid(`the body is not a valid tar.gz: ${describeTarError(error as Error)}`));
    }
  });
}

/** Why the entry may not be unpacked into an app directory, or undefined when it may. */
function entryProblem(entry: ReadEntry): string | undefined {
  if (!ALLOWED_TYPES.has(entry.type)) return `entry '${entry.path}' is a ${entry.type}; only files, directories and links are allowed`;
  const pathProblem = relativePathProblem(entry.path);
  if (pathProblem !== undefined) return `entry '${entry.path}' ${pathProblem}`;
  if ((entry.type === 'SymbolicLink' || entry.type === 'Link') && entry.linkpath !== undefined) {
    const linkProblem = relativePathProblem(entry.linkpath);
    if (linkProblem !== undefined) return `entry '${entry.path}' links to '${entry.linkpath}', which ${linkProblem}`;
  }
  return undefined;
}

function relativePathProblem(path: string): string | undefined {
  if (path === '') return 'has an empty name';
  if (path.includes('\0')) return 'has a NUL byte in its name';
  // Windows drive letters and UNC names too: an archive made on Windows may carry them.
  if (path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path)) return 'is an absolute path';
  if (path.split(/[/\\]/).includes('..')) return "leaves the app directory ('..' is not allowed)";
  return undefined;
}

function describeTarError(error: Error & { code?: string }): string {
  // tar prefixes its messages with their code ("TAR_BAD_ARCHIVE: Unrecognized archive format").
  const message = error.message.replace(/^TAR_[A-Z_]+: /, '');
  if (error.code === 'TAR_BAD_ARCHIVE' && /unrecognized archive format/i.test(message)) return 'it is gzip, but what it holds is not a tar archive';
  return message;
}

function invalid(message: string): InputError {
  return new InputError(message, 'body', 'invalid_source');
}
