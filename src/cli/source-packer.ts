import { readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

import { create as createTar } from 'tar';

import { UsageError } from './usage-error.ts';

/**
 * Directories never worth uploading: version-control history, and dependencies the app's own
 * install recreates (they are large, and often built for the uploader's machine, not the gear).
 */
const LEFT_OUT = new Set(['.git', 'node_modules']);

/**
 * Packs `dir` as the tar.gz `POST /sources` takes: paths relative to `dir`, without `.git` and
 * `node_modules` at any depth; owners and times left out (`portable`), so the same tree packs to
 * the same entries on any machine. Symbolic links are stored as links, not followed.
 *
 * Throws UsageError naming the path when `dir` does not exist or is not a directory.
 */
export async function packSourceDirectory(dir: string): Promise<Buffer> {
  const root = resolve(dir);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(root).isDirectory();
  } catch {
    throw new UsageError(`--from ${dir}: no such directory`, 'from');
  }
  if (!isDirectory) throw new UsageError(`--from ${dir}: not a directory`, 'from');

  const top = readdirSync(root).filter((name) => !LEFT_OUT.has(name)).sort();
  if (top.length === 0) throw new UsageError(`--from ${dir}: the directory has nothing to upload${readdirSync(root).length > 0 ? ' besides .git and node_modules' : ''}`, 'from');
  const chunks: Buffer[] = [];
  const stream = createTar(
    {
      gzip: true,
      cwd: root,
      portable: true,
      // Nested ones too (a workspace package's node_modules); `path` is relative to `root`.
      filter: (path) => !path.split('/').some((part) => LEFT_OUT.has(part)),
    },
    top,
  );
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
