// The operator's read-only API: GET /api/deliveries (a local date's deliveries), GET /api/deliveries/:id,
// GET /api/usage (the daily report of a UTC day) and GET /api/capacity (the deployed stage's capacity
// report). Bearer token and the per-token `api` budget, as every /api route; phone numbers are full.
import { type Context, Hono } from 'hono';
import type { ApiCredentials, Credentials } from '../../adapters/credentials.js';
import { type Db, dbWithDeadline } from '../../db/connection.js';
import { type DeployedCapacity, InvalidZoneMix, parseZoneMix } from '../../domain/capacity.js';
import { localDateAt } from '../../domain/send-window.js';
import { buildDailyReport } from '../../services/daily-report.js';
import { capacityView, DeliveryNotFound, deliveriesOfDate, deliveryView } from '../../services/operations.js';
import type { Clock, RateLimiter } from '../../services/ports.js';
import { type ApiEnv, apiAccess } from '../api-auth.js';
import {
  BodiesQuery,
  CapacityQuery,
  DeliveriesQuery,
  DeliveryParams,
  parseInput,
  queryOf,
  UsageQuery,
} from '../api-schemas.js';
import { apiError, ClientError } from '../errors.js';

export interface OperatorRouteDeps {
  db: Db;
  clock: Clock;
  api: Credentials<ApiCredentials> | undefined;
  limiter?: RateLimiter;
  /** The zone whose today `GET /api/deliveries` lists by default (DEFAULT_TIMEZONE). */
  defaultTimeZone: string;
  /** The stage's capacity inputs; without them GET /api/capacity answers 503. */
  capacity?: DeployedCapacity;
}

/** Mounted at /api; each route guarded on its own so the subscriber routes' guard never runs twice. */
export function operatorRoutes(deps: OperatorRouteDeps) {
  const routes = new Hono<ApiEnv>();
  const guard = apiAccess(deps.api, deps.limiter);
  // '/deliveries/*' also matches '/deliveries' (listing it again would count a request twice).
  for (const path of ['/deliveries/*', '/usage', '/capacity']) routes.use(path, ...guard);

  routes.get('/deliveries', async (c) => {
    const query = queryOf(c, DeliveriesQuery);
    const date = query.date ?? localDateAt(deps.defaultTimeZone, deps.clock.now());
    const db = dbWithDeadline(deps.db, c.get('deadline'));
    return c.json(await deliveriesOfDate(db, date, { bodies: query.bodies }));
  });

  routes.get('/deliveries/:id', async (c) => {
    const { id } = parseInput(DeliveryParams, { id: c.req.param('id') });
    const { bodies } = queryOf(c, BodiesQuery);
    try {
      return c.json(await deliveryView(dbWithDeadline(deps.db, c.get('deadline')), id, { bodies }));
    } catch (error) {
      if (error instanceof DeliveryNotFound) return notFound(c, error.message);
      throw error;
    }
  });

  routes.get('/usage', async (c) => {
    const { day } = queryOf(c, UsageQuery);
    const db = dbWithDeadline(deps.db, c.get('deadline'));
    return c.json(await buildDailyReport({ db }, day ?? deps.clock.now().toISOString().slice(0, 10)));
  });

  routes.get('/capacity', (c) => {
    const query = queryOf(c, CapacityQuery);
    if (!deps.capacity) {
      return apiError(
        c,
        503,
        'unavailable',
        'this deployment does not publish its capacity settings (CAPACITY_SETTINGS)',
      );
    }
    let zones: ReturnType<typeof parseZoneMix> | undefined;
    try {
      zones = query.zones === undefined ? undefined : parseZoneMix(query.zones, deps.clock.now());
    } catch (error) {
      if (error instanceof InvalidZoneMix) throw new ClientError(400, `zones: ${error.message}`);
      throw error;
    }
    return c.json(capacityView(deps.capacity, query.subscribers, zones));
  });
  return routes;
}

const notFound = (c: Context, message: string) => apiError(c, 404, 'not_found', message);
