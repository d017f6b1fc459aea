/**
 * The route key of a request: its Host header in lower case, without the port and without a
 * trailing dot (`Hello-Demo.Example.COM.:8080` → `hello-demo.example.com`). IPv6 literals keep
 * their brackets (`[::1]:80` → `[::1]`). Returns '' for a missing or empty header.
 */
export function hostName(header: string | undefined): string {
  if (header === undefined || header === '') return '';
  let end = header.length;
  if (header.charCodeAt(0) === 91 /* [ */) {
    const close = header.indexOf(']');
    end = close === -1 ? end : close + 1;
  } else {
    const colon = header.indexOf(':');
    if (colon !== -1) end = colon;
  }
  if (end > 0 && header.charCodeAt(end - 1) === 46 /* . */) end--;
  const name = end === header.length ? header : header.slice(0, end);
  // Most clients send lower case already; skip the copy then.
  return hasUpperCase(name) ? name.toLowerCase() : name;
}

/** The port written in a Host header, or undefined when there is none. */
export function hostPort(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const bracket = header.lastIndexOf(']');
  const colon = header.indexOf(':', bracket + 1);
  if (colon === -1 || colon === header.length - 1) return undefined;
  return header.slice(colon + 1);
}

function hasUpperCase(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code >= 65 && code <= 90) return true;
  }
  return false;
}
