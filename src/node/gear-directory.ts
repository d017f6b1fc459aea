import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { GearRecord } from './gear-record.ts';

/** The paths of one gear on this host. */
export interface GearPaths {
  readonly root: string;
  /** The app's code: an uploaded source, or the cartridge's built-in app. */
  readonly app: string;
  /** Persistent data (OPENSHIFT_DATA_DIR): kept across restarts and source updates. */
  readonly data: string;
  /** stdout and stderr of the gear's processes. */
  readonly log: string;
  readonly logFile: string;
  readonly recordFile: string;
}

/**
 * `<state-dir>/gears/<gearId>/` for every gear on this host: `app/`, `data/`, `log/`, `gear.json`.
 * The directory listing is the agent's memory of which gears it holds.
 */
export class GearDirectory {
  readonly root: string;

  constructor(stateDir: string) {
    this.root = join(stateDir, 'gears');
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
  }

  paths(gearId: string): GearPaths {
    // Ids come from the broker and were checked against [A-Za-z0-9-] (desired-gear.ts); checked
    // again here because this is where they become paths.
    if (!/^[A-Za-z0-9-]{1,64}$/.test(gearId)) throw new Error(`not a gear id: ${JSON.stringify(gearId)}`);
    const root = join(this.root, gearId);
    const log = join(root, 'log');
    return { root, app: join(root, 'app'), data: join(root, 'data'), log, logFile: join(log, 'gear.log'), recordFile: join(root, 'gear.json') };
  }

  create(record: GearRecord): GearPaths {
    const paths = this.paths(record.id);
    for (const dir of [paths.root, paths.app, paths.data, paths.log]) mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.write(record);
    return paths;
  }

  /** Every gear whose gear.json is readable; a directory without one (a create cut short) is removed. */
  list(): GearRecord[] {
    const records: GearRecord[] = [];
    for (const entry of readdirSync(this.root, { withFileTypes: true })) {
      if (!entry.isDirectory() || !/^[A-Za-z0-9-]{1,64}$/.test(entry.name)) continue;
      const record = this.read(entry.name);
      if (record) records.push(record);
      else rmSync(join(this.root, entry.name), { recursive: true, force: true });
    }
    return records;
  }

  read(gearId: string): GearRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.paths(gearId).recordFile, 'utf8')) as GearRecord;
    } catch {
      return undefined;
    }
  }

  /** Written to a temporary file then renamed, so a crash never leaves half a gear.json. */
  write(record: GearRecord): void {
    const { recordFile } = this.paths(record.id);
    const temporary = `${recordFile}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, recordFile);
  }

  remove(gearId: string): void {
    rmSync(this.paths(gearId).root, { recursive: true, force: true });
  }
}
