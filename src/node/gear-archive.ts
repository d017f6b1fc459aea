import { constants } from 'node:fs';
import { lstat, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

import { Header, Pax } from 'tar';

import { refuseArchivePath } from './gear-manifest.ts';

const BLOCK = 512;
const READ_CHUNK = 256 * 1024;

/**
 * A tar of `paths` under `root`, as a stream of chunks: each path as itself (a directory without
 * its contents, a symlink as a link, a file as its bytes). Written here rather than by tar's
 * `create` because a gear being copied keeps writing: tar's packer fails a file that grows while
 * it reads it, where this sends exactly the size the file had when it was looked at (a file
 * caught mid-append is sent as a consistent prefix; the copy's next manifest fetches the rest).
 * Paths must have been checked by `refuseArchivePath`; one that vanished meanwhile is left out.
 */
export async function* streamGearArchive(root: string, paths: readonly string[]): AsyncGenerator<Buffer> {
  const realRoot = await realpath(root);
  for (const path of paths) {
    // Checked again right before use: the gear owns its directory and could have swapped a
    // directory for a symlink since the request was checked.
    if (refuseArchivePath(root, path) !== null) continue;
    const absolute = join(root, path);
    let stats;
    try {
      stats = await lstat(absolute);
    } catch {
      continue;
    }
    const type = stats.isSymbolicLink() ? 'SymbolicLink' : stats.isDirectory() ? 'Directory' : stats.isFile() ? 'File' : undefined;
    if (type === undefined) continue;
    let linkpath: string | undefined;
    if (type === 'SymbolicLink') {
      try {
        linkpath = await readlink(absolute);
      } catch {
        continue;
      }
    }
    const size = type === 'File' ? stats.size : 0;
    // Opened before the header is sent: a file deleted in between is simply left out.
    const file = type === 'File' ? await openInside(absolute, realRoot) : undefined;
    if (type === 'File' && file === undefined) continue;
    const data = { path: type === 'Directory' ? `${path}/` : path, mode: stats.mode & 0o7777, size, mtime: stats.mtime, type, ...(linkpath !== undefined ? { linkpath } : {}) } as const;
    const header = new Header(data);
    // Long paths (over ustar's 100 characters) and large sizes go in a pax header first.
    if (header.encode()) yield new Pax({ path: data.path, size, mtime: stats.mtime, ...(linkpath !== undefined ? { linkpath } : {}) }).encode();
    yield header.block!;
    if (file === undefined) continue;
    try {
      let sent = 0;
      while (sent < size) {
        const buffer = Buffer.alloc(Math.min(READ_CHUNK, size - sent));
        const { bytesRead } = await file.read(buffer, 0, buffer.length, sent);
        // Shrunk since the stat: the rest is sent as zeros to keep the archive well-formed. The
        // copy's next manifest sees a different size and fetches the file again.
        if (bytesRead === 0) {
          yield Buffer.alloc(size - sent);
          break;
        }
        sent += bytesRead;
        yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      }
    } finally {
      await file.close();
    }
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (padding > 0) yield Buffer.alloc(padding);
  }
  // End of archive: two zero blocks.
  yield Buffer.alloc(2 * BLOCK);
}

/**
 * Opens a file for reading only if it is inside `realRoot` once opened: O_NOFOLLOW refuses a
 * final symlink, and the kernel's own name for the open descriptor settles any swap on the way.
 */
async function openInside(absolute: string, realRoot: string): Promise<FileHandle | undefined> {
  let file: FileHandle;
  try {
    file = await open(absolute, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  const opened = await realpath(`/proc/self/fd/${file.fd}`).catch(() => '');
  if (opened.startsWith(`${realRoot}/`)) return file;
  await file.close();
  return undefined;
}
