// The static cartridge's server: serves the files under argv[2] on HOST:PORT. Plain JavaScript
// with no dependencies, because gears run it under plain node (no tsx, no node_modules).
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

const root = resolve(process.argv[2] ?? '.');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
};

function send(response, status, text) {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(`${text}\n`);
}

/** The file a URL path names under root, or null when it would step outside root. */
function fileFor(urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const path = resolve(join(root, decoded));
  return path === root || path.startsWith(root + sep) ? path : null;
}

const server = createServer((request, response) => {
  if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'method not allowed');
  const urlPath = new URL(request.url ?? '/', 'http://gear').pathname;
  let path = fileFor(urlPath);
  if (path === null) return send(response, 400, 'bad path');
  let stat;
  try {
    stat = statSync(path);
    if (stat.isDirectory()) {
      path = join(path, 'index.html');
      stat = statSync(path);
    }
  } catch {
    return send(response, 404, 'not found');
  }
  if (!stat.isFile()) return send(response, 404, 'not found');
  response.writeHead(200, { 'content-type': TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream', 'content-length': stat.size });
  if (request.method === 'HEAD') return response.end();
  createReadStream(path)
    .on('error', () => response.destroy())
    .pipe(response);
});

server.listen(Number(process.env.PORT), process.env.HOST);
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
