import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'geartide.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Spawn the real `geartide` binary (asynchronously: the broker runs in this process and must keep
 * answering). GEARTIDE_HOME points at an empty directory, removed when the CLI exits, unless a
 * test gives one, so the developer's own ~/.geartide never leaks into a test.
 */
export function startCli(args: string[], env: Record<string, string | undefined> = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const ownHome = env.GEARTIDE_HOME === undefined ? mkdtempSync(join(tmpdir(), 'geartide-cli-home-')) : undefined;
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, ...(ownHome === undefined ? {} : { GEARTIDE_HOME: ownHome }), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (ownHome !== undefined) rmSync(ownHome, { recursive: true, force: true });
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return startCli(args, env).done;
}
