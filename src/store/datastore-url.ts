import { isAbsolute } from 'node:path';
import { ConfigError } from '../core/errors.ts';

/** The setting a bad URL is blamed on, so the operator knows which line of broker.conf to fix. */
const KEY = 'DATASTORE_URL';

export type DatastoreTarget =
  | { readonly dialect: 'sqlite'; readonly path: ':memory:' | (string & {}) }
  | { readonly dialect: 'postgres'; readonly connectionString: string; readonly display: string };

/**
 * Parses DATASTORE_URL:
 *   sqlite:/abs/path/file.db     the embedded store, in that file
 *   sqlite::memory:              an embedded store that lives as long as the process
 *   postgres://user:pass@host:port/db   (postgresql:// too)
 * Anything else is a ConfigError naming the key and what is wrong.
 */
export function parseDatastoreUrl(url: string): DatastoreTarget {
  const trimmed = url.trim();
  if (trimmed === '') throw new ConfigError(`${KEY} is empty; expected sqlite:/path/to/file.db, sqlite::memory: or postgres://user:pass@host:port/db`, KEY);

  if (trimmed.startsWith('sqlite:')) {
    const path = trimmed.slice('sqlite:'.length);
    if (path === ':memory:') return { dialect: 'sqlite', path };
    if (path === '') throw new ConfigError(`${KEY} '${url}' names no file; expected sqlite:/absolute/path/file.db or sqlite::memory:`, KEY);
    // sqlite://x/y would read as a host name to most people; refuse rather than guess.
    if (path.startsWith('//') && !path.startsWith('///')) {
      throw new ConfigError(`${KEY} '${url}' has a host part; an embedded store takes a path: sqlite:/absolute/path/file.db`, KEY);
    }
    // A relative path would depend on the directory the broker happens to start in.
    if (!isAbsolute(path)) throw new ConfigError(`${KEY} '${url}' has a relative path '${path}'; use an absolute one: sqlite:/absolute/path/file.db`, KEY);
    return { dialect: 'sqlite', path: path.replace(/^\/+/, '/') };
  }

  if (trimmed.startsWith('postgres://') || trimmed.startsWith('postgresql://')) {
    let parsed: URL;
    try {
      parsed = new URL(trimmed);
    } catch {
      throw new ConfigError(`${KEY} is not a valid URL: ${redact(trimmed)}`, KEY);
    }
    if (parsed.hostname === '') throw new ConfigError(`${KEY} '${redact(trimmed)}' names no host`, KEY);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    if (database === '' || database.includes('/')) {
      throw new ConfigError(`${KEY} '${redact(trimmed)}' names no database; expected postgres://user:pass@host:port/database`, KEY);
    }
    if (parsed.port !== '' && !(Number(parsed.port) > 0 && Number(parsed.port) < 65536)) {
      throw new ConfigError(`${KEY} '${redact(trimmed)}' has an invalid port '${parsed.port}'`, KEY);
    }
    return { dialect: 'postgres', connectionString: trimmed, display: redact(trimmed) };
  }

  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(trimmed)?.[0];
  throw new ConfigError(
    `${KEY} '${scheme === undefined ? redact(trimmed) : scheme + '…'}' has ${scheme === undefined ? 'no scheme' : `unsupported scheme '${scheme}'`}; expected sqlite:/path/to/file.db, sqlite::memory: or postgres://user:pass@host:port/db`,
    KEY,
  );
}

/** The URL with its password hidden, for messages and logs. */
function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}
