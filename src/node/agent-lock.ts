import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ConflictError } from '../core/errors.ts';
import { isSameProcess, readProcessStartTime } from './process-identity.ts';

/**
 * One agent per state dir: two agents over the same gears would each start every gear. The lock
 * names the holder by pid and start time, so a SIGKILLed agent's lock is simply taken over.
 */
export class AgentLock {
  private constructor(private readonly path: string) {}

  static acquire(stateDir: string): AgentLock {
    const path = join(stateDir, 'agent.lock');
    try {
      const holder = JSON.parse(readFileSync(path, 'utf8')) as { pid?: number; startTime?: string };
      if (typeof holder.pid === 'number' && isSameProcess(holder.pid, holder.startTime ?? null)) {
        throw new ConflictError('node_agent_running', `another node agent (pid ${holder.pid}) runs on ${stateDir}`, { field: 'state-dir', pid: holder.pid });
      }
    } catch (error) {
      if (error instanceof ConflictError) throw error;
      // no lock, or an unreadable one: take it
    }
    writeFileSync(path, `${JSON.stringify({ pid: process.pid, startTime: readProcessStartTime(process.pid) })}\n`, { mode: 0o600 });
    return new AgentLock(path);
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}
