/**
 * The redirect of a CLOSE 1001 (docs/protocol.md, 3.5): a server that goes away (a draining
 * cluster node) may name the server to reconnect to, as a last line of the CLOSE's reason:
 * `redirect=<host>:<port>` (an IPv6 host in brackets). A peer that does not know it shows it as
 * part of the reason text and reconnects as before. Pure functions.
 */

/** Where a redirect points. */
export interface Redirect {
  host: string;
  port: number;
}

const LINE = /(?:^|\n)redirect=(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/** `reason` with a redirect line to `to` appended. */
export function withRedirect(reason: string, to: Redirect): string {
  const host = to.host.includes(':') ? `[${to.host}]` : to.host;
  return `${reason}\nredirect=${host}:${to.port}`;
}

/** The redirect a CLOSE reason carries; undefined when it carries none (or a malformed one). */
export function redirectOf(reason: string): Redirect | undefined {
  const m = LINE.exec(reason);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  const host = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1];
  return { host, port };
}
