/**
 * App sources for the drain tests, uploaded with POST /sources. Each server says who served a
 * request (`<gear id> <node> <count>`), so a test can tell the source from the copy; the node is
 * read from GEAR_DIR (`<node state dir>/gears/<id>`, the state dir of a local node being
 * `<home>/nodes/<name>`).
 */

/**
 * Appends a line to `$GEAR_DATA_DIR/requests.log` on every `GET /write` and answers with the
 * line count; the count continues from the file on a restart, so a copy goes on from what was
 * copied. Other paths (the agent's health check) write nothing.
 */
export const WRITER_SERVER = `const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const file = path.join(process.env.GEAR_DATA_DIR, 'requests.log');
const node = path.basename(path.dirname(path.dirname(process.env.GEAR_DIR)));
let count = 0;
try { count = fs.readFileSync(file, 'utf8').split('\\n').filter(Boolean).length; } catch {}
const server = http.createServer((request, response) => {
  if (request.url === '/write') { count++; fs.appendFileSync(file, count + ' ' + node + '\\n'); }
  response.end(process.env.GEAR_ID + ' ' + node + ' ' + count + '\\n');
});
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/**
 * What a gear does when it finds it is a copy (it started on another node than the one it was
 * created on, which it notes in `$GEAR_DATA_DIR/first-node` on its first start):
 * - `exit`: exits at once, so the target's health check never passes;
 * - `unhealthy`: listens but answers 500 to everything, so the health check never passes;
 * - `slow:<ms>`: listens only after that long (a copy that starts slowly).
 * Where it was created it serves like the hello app.
 */
export function copyBehaviourServer(behaviour: 'exit' | 'unhealthy' | `slow:${number}`): string {
  return `const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const behaviour = ${JSON.stringify(behaviour)};
const node = path.basename(path.dirname(path.dirname(process.env.GEAR_DIR)));
const marker = path.join(process.env.GEAR_DATA_DIR, 'first-node');
if (!fs.existsSync(marker)) fs.writeFileSync(marker, node);
const isCopy = fs.readFileSync(marker, 'utf8') !== node;
if (isCopy && behaviour === 'exit') process.exit(3);
const server = http.createServer((request, response) => {
  response.statusCode = isCopy && behaviour === 'unhealthy' ? 500 : 200;
  response.end(process.env.GEAR_ID + ' ' + node + ' ' + (isCopy ? 'copy' : 'original') + '\\n');
});
const delay = isCopy && behaviour.startsWith('slow:') ? Number(behaviour.slice(5)) : 0;
setTimeout(() => server.listen(Number(process.env.PORT), process.env.HOST), delay);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;
}

/** `<gear id> <node> <count>` from a writer's answer. */
export function parseWriterAnswer(text: string): { gear: string; node: string; count: number } {
  const [gear, node, count] = text.trim().split(' ');
  return { gear: gear!, node: node!, count: Number(count) };
}
