import { readdirSync, readFileSync } from 'node:fs';

/**
 * A process as the kernel knows it: pid plus start time. Pids are reused, so "is gear G's
 * process still alive?" is asked as "is there a live process with this pid AND this start time?".
 * Linux only (/proc), as node hosts are.
 */

/**
 * /proc/<pid>/stat field 22, the start time in clock ticks since boot, as text (it can exceed
 * 2^53 in theory); null when there is no such process or it is a zombie (exited, not reaped).
 */
export function readProcessStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2 (comm) is in parentheses and may contain spaces or parentheses: split after the last ')'.
  const afterComm = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // afterComm[0] is field 3 (state); field 22 is afterComm[19].
  const state = afterComm[0];
  if (state === 'Z' || state === 'X') return null;
  return afterComm[19] ?? null;
}

/** The process is stopped by a signal (SIGSTOP; /proc state T): it runs no code until SIGCONT. */
export function isProcessStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
  } catch {
    return false;
  }
}

export function isSameProcess(pid: number | null, startTime: string | null): boolean {
  if (pid === null || startTime === null) return false;
  return readProcessStartTime(pid) === startTime;
}

/**
 * Live processes of this user whose initial environment holds `key=value` exactly. A gear's
 * process and its children all carry GEAR_DIR, so this finds a gear's processes even when
 * gear.json does not name them (an agent killed between spawn and writing gear.json).
 */
export function findProcessesWithEnv(key: string, value: string): number[] {
  const needle = Buffer.from(`${key}=${value}\0`);
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${pid}/environ`);
    } catch {
      continue; // gone, or another user's
    }
    // Match at the start of the block or right after a NUL, so GEAR_DIR=/a never matches XGEAR_DIR=/a.
    let at = environ.indexOf(needle);
    while (at > 0 && environ[at - 1] !== 0) at = environ.indexOf(needle, at + 1);
    if (at >= 0 && readProcessStartTime(pid) !== null) found.push(pid);
  }
  return found;
}
