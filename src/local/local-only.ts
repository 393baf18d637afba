// The guard in front of what only the local server serves (the dev page). Listening on 127.0.0.1 keeps
// other machines out, but not the developer's own browser: any web page it has open can post a form to
// http://localhost:3000/dev/… (forging a subscriber's YES, texting strangers), and a DNS-rebinding name
// that resolves to 127.0.0.1 lets a foreign page read /dev. So: the Host must be this server's own
// loopback host and port, and a request that changes something must not come from another site.
// docs/local-mode.md says what is allowed and why the webhooks and the API are not behind this guard.
import type { MiddlewareHandler } from 'hono';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Sec-Fetch-Site values of a request this page itself (or the person typing its URL) made. */
const OWN_FETCH_SITES = new Set(['same-origin', 'none']);

/** "name:port" of a Host header (port 80 when absent), lower-cased; undefined when it is not one. */
function hostKey(host: string): string | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(host.trim().toLowerCase());
  if (!match) return undefined;
  return `${match[1]}:${Number(match[2] ?? 80)}`;
}

/** "name:port" of an Origin header, for http origins only; undefined for anything else ("null", https). */
function originKey(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' ? `${url.hostname}:${Number(url.port || 80)}` : undefined;
  } catch {
    return undefined;
  }
}

/** True when `host` (a Host header) names this machine's loopback interface on `port`. */
function isOwnLoopbackHost(host: string | undefined, port: number): boolean {
  const key = host === undefined ? undefined : hostKey(host);
  return key !== undefined && [...LOOPBACK_NAMES].some((name) => key === `${name}:${port}`);
}

/**
 * True when a browser says the request comes from another site. `Sec-Fetch-Site` decides when present
 * (browsers set it and pages cannot): only same-origin and none (typed URL, bookmark) are the page's own.
 * Without it (older browsers), an `Origin` must be the Host the request was sent to. With neither, no
 * browser sent it (curl, a script on this machine, which can read the database anyway). Go's net/http
 * CrossOriginProtection decides the same way.
 */
function fromAnotherSite(site: string | undefined, origin: string | undefined, host: string): boolean {
  if (site !== undefined) return !OWN_FETCH_SITES.has(site.trim().toLowerCase());
  return origin !== undefined && originKey(origin) !== hostKey(host);
}

/**
 * Refuses (403, one plain line) a request whose Host is not localhost, 127.0.0.1 or [::1] on `port`, and a
 * state-changing one from another site (fromAnotherSite).
 */
export function localOnly(port: number): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host');
    if (!isOwnLoopbackHost(host, port)) {
      return c.text(
        `Forbidden: the dev page answers only on this machine, at http://localhost:${port}.\n`,
        403,
      );
    }
    const changes = !SAFE_METHODS.has(c.req.method);
    if (changes && fromAnotherSite(c.req.header('sec-fetch-site'), c.req.header('origin'), host ?? '')) {
      return c.text(
        'Forbidden: the dev page takes forms only from its own page, not from another site.\n',
        403,
      );
    }
    await next();
  };
}
