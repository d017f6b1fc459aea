import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Cartridge, CartridgeCommand, GearIdentity } from './cartridge.ts';

/**
 * The hello app: answers every request with the gear's name, so a client (a test, the router's
 * round-robin check) can tell which gear served it. It reads the gear from its environment, so
 * the file is the same for every gear.
 */
const HELLO_SERVER = `// Written by geartide: the nodejs cartridge's built-in app (no source uploaded).
import { createServer } from 'node:http';

const text = \`Hello from geartide: app \${process.env.APP_NAME}, gear \${process.env.GEAR_ID}\\n\`;
const server = createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(request.method === 'HEAD' ? undefined : text);
});
server.listen(Number(process.env.PORT), process.env.HOST);
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
`;

/** `node server.js` in app/ (or package.json's main), on the agent's own Node.js. */
export const nodejsCartridge: Cartridge = {
  name: 'nodejs',
  prepare(appDir: string, _gear: GearIdentity, hasSource: boolean): void {
    if (hasSource) return;
    // .mjs so it runs as a module whatever package.json (none here) says.
    writeFileSync(join(appDir, 'server.mjs'), HELLO_SERVER);
  },
  command(appDir: string): CartridgeCommand {
    return { file: process.execPath, args: [entryPoint(appDir)], cwd: appDir };
  },
  stopSignal: 'SIGTERM',
  healthCheck: { path: '/', timeoutMs: 1000 },
};

function entryPoint(appDir: string): string {
  for (const candidate of ['server.js', 'server.mjs']) {
    if (existsSync(join(appDir, candidate))) return candidate;
  }
  try {
    const main = (JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as { main?: unknown }).main;
    if (typeof main === 'string' && main.length > 0) return main;
  } catch {
    // no package.json: fall through to the conventional name, whose absence the gear log will show
  }
  return 'server.js';
}
