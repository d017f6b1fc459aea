// `geartide router …` as a real child process (through run-router-command.ts), with its output
// collected, for the tests of the command itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('./run-router-command.ts', import.meta.url));

export interface RouterCommandProcess {
  readonly child: ChildProcess;
  /** Its exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  output(): { stdout: string; stderr: string };
}

/** Runs `geartide router <args>` with only PATH and `env` in its environment. */
export function startRouterCommand(args: readonly string[], env: Record<string, string>): RouterCommandProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'router', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}
