import { InputError } from '../core/errors.ts';

/** `HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces); port 0 lets the kernel pick. */
export function parseListenAddress(text: string, field = 'listen'): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const plain = /^([^:]*):(\d+)$/.exec(text);
  const found = bracketed ?? plain;
  if (!found) throw new InputError(`'${text}' is not HOST:PORT`, field);
  const port = Number(found[2]);
  if (!Number.isInteger(port) || port > 65535) throw new InputError(`port ${found[2]} is out of range`, field);
  return { host: found[1] === '' ? '0.0.0.0' : found[1]!, port };
}

/** How a URL names `host` (IPv6 in brackets). */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
