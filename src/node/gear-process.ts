import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import type { CartridgeCommand } from './cartridges/cartridge.ts';
import { findProcessesWithEnv, isSameProcess, readProcessStartTime } from './process-identity.ts';

export interface SpawnedGearProcess {
  readonly pid: number;
  readonly startTime: string;
  readonly child: ChildProcess;
}

/**
 * Starts a gear's process detached, in its own session and process group: killing the agent
 * (even with SIGKILL) leaves the gear running for the next agent to adopt, and stopping the gear
 * signals the whole group, so whatever the app forked goes too. stdout and stderr are appended
 * to the gear's log file.
 */
export async function spawnGearProcess(command: CartridgeCommand, env: Record<string, string>, logFile: string): Promise<SpawnedGearProcess> {
  const log = openSync(logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(command.file, [...command.args], { cwd: command.cwd, env, detached: true, stdio: ['ignore', log, log] });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(log);
  }
  const pid = child.pid;
  if (pid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`could not start ${command.file}: ${error.message}`);
  }
  // Not waited on: the agent must be able to exit (or be killed) with its gears still running.
  child.unref();
  const startTime = readProcessStartTime(pid);
  if (startTime === null) throw new Error(`process ${pid} (${command.file}) exited at once; see the gear log`);
  return { pid, startTime, child };
}

/** Signals a gear's process group (its pid: gears lead their own), or the process alone when that fails. */
export function signalGearGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

async function waitUntilGone(pid: number, startTime: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isSameProcess(pid, startTime)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

/**
 * Stops a gear: `signal` to its process group, SIGKILL after `graceMs`, then SIGKILL to any
 * process still carrying the gear's GEAR_DIR (an app that escaped its group). Safe to call for a
 * process that is already gone or whose pid was reused (the start time must match).
 */
export async function stopGearProcess(options: { pid: number | null; startTime: string | null; signal: NodeJS.Signals; graceMs: number; gearDir: string }): Promise<void> {
  const { pid, startTime } = options;
  if (pid !== null && startTime !== null && isSameProcess(pid, startTime)) {
    signalGearGroup(pid, options.signal);
    // IMPORTANT: continue it too, because a gear paused for a move (SIGSTOP) holds the stop
    // signal pending until continued, and would only ever go by SIGKILL after the grace period.
    signalGearGroup(pid, 'SIGCONT');
    if (!(await waitUntilGone(pid, startTime, options.graceMs))) {
      signalGearGroup(pid, 'SIGKILL');
      await waitUntilGone(pid, startTime, 5000);
    }
  }
  await killStrays(options.gearDir);
}

/** SIGKILLs every live process that carries GEAR_DIR=gearDir, and waits for them to go. */
export async function killStrays(gearDir: string): Promise<number> {
  const strays = findProcessesWithEnv('GEAR_DIR', gearDir);
  const identities = strays.map((pid) => ({ pid, startTime: readProcessStartTime(pid) }));
  for (const { pid } of identities) signalGearGroup(pid, 'SIGKILL');
  for (const { pid, startTime } of identities) if (startTime !== null) await waitUntilGone(pid, startTime, 5000);
  return strays.length;
}
