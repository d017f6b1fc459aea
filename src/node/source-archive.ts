import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { dirname, join } from 'node:path';

import { x as extract } from 'tar';

/**
 * Replaces `appDir` with the contents of a gzipped tar. Extracted beside it first and swapped in
 * with renames, so a broken archive or a crash mid-way leaves the previous source in place.
 * tar refuses absolute paths and `..` entries; owners are not restored (the agent may run as root).
 */
export async function installSourceArchive(archive: Uint8Array, appDir: string): Promise<void> {
  const parent = dirname(appDir);
  const next = join(parent, 'app.next');
  const previous = join(parent, 'app.previous');
  rmSync(next, { recursive: true, force: true });
  rmSync(previous, { recursive: true, force: true });
  mkdirSync(next, { mode: 0o700 });
  try {
    await pipeline(Readable.from([Buffer.from(archive)]), extract({ cwd: next, gzip: true, strict: true, preserveOwner: false }));
  } catch (error) {
    rmSync(next, { recursive: true, force: true });
    throw new Error(`source archive could not be extracted: ${(error as Error).message}`, { cause: error });
  }
  // An agent killed between the two renames leaves no app/: the next install simply puts it back.
  if (existsSync(appDir)) renameSync(appDir, previous);
  renameSync(next, appDir);
  rmSync(previous, { recursive: true, force: true });
}
