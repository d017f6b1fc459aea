/**
 * Failpoints for crash tests: `GEARTIDE_FAILPOINT=<name>` makes the process kill itself with
 * SIGKILL the moment it reaches `failpoint(<name>)` — as a power cut would, with no cleanup and
 * no flush. The kill tests set it on a broker child process to stop it right after a journal
 * phase is written and before it is carried out, then check that a new broker finishes or rolls
 * back. Unset (always, outside those tests), a failpoint is one environment lookup.
 */
export function failpoint(name: string): void {
  if (process.env.GEARTIDE_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}
