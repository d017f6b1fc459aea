/** A gear endpoint split for `http.request`: `127.0.0.1:41234` or `[::1]:41234`. */
export interface EndpointAddress {
  /** As the broker wrote it; the key for health and logs. */
  readonly endpoint: string;
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port`; returns undefined when it is not one (the caller skips such an endpoint). */
export function parseEndpoint(endpoint: string): EndpointAddress | undefined {
  const colon = endpoint.lastIndexOf(':');
  if (colon <= 0) return undefined;
  let host = endpoint.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const portText = endpoint.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65_535 || host === '') return undefined;
  return { endpoint, host, port };
}
