import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { helloText, type Cartridge, type CartridgeCommand, type GearIdentity } from './cartridge.ts';

/** Plain JavaScript shipped with geartide, so a gear runs it under plain node (no tsx). */
const STATIC_SERVER = fileURLToPath(new URL('./static-server.mjs', import.meta.url));

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Serves the files of app/ (index.html for a directory) through static-server.mjs. */
export const staticCartridge: Cartridge = {
  name: 'static',
  prepare(appDir: string, gear: GearIdentity, hasSource: boolean): void {
    if (hasSource || existsSync(join(appDir, 'index.html'))) return;
    const title = escapeHtml(helloText(gear).trim());
    writeFileSync(join(appDir, 'index.html'), `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(gear.app)}</title></head>\n<body><h1>${title}</h1><p>Upload your site to replace this page.</p></body></html>\n`);
  },
  command(appDir: string): CartridgeCommand {
    return { file: process.execPath, args: [STATIC_SERVER, appDir], cwd: appDir };
  },
  stopSignal: 'SIGTERM',
  healthCheck: { path: '/', timeoutMs: 1000 },
};
