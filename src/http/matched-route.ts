// What a request's log lines say about where it went: the route pattern it matched
// ("/api/subscribers/:phone"), never its path, which can hold a subscriber's number written any way.
import type { Context } from 'hono';
import { routePath } from 'hono/route';

/**
 * The pattern of the most specific route the request matched: the last one registered, so the handler's own
 * route rather than a middleware's `/*`. A request that matched no route at all is "(none)".
 */
export function matchedRoute(c: Context): string {
  return routePath(c, -1) || '(none)';
}
