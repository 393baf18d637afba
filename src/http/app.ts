// The webhooks HTTP application. The same object serves API Gateway (src/handlers/webhooks.ts, through
// hono/aws-lambda) and the local server (@hono/node-server).
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { type ApiCredentials, type Credentials, SecretUnavailable } from '../adapters/credentials.js';
import { type Requiring, sendWindow } from '../config.js';
import { type Db, isDbUnavailable } from '../db/connection.js';
import { DeadlineReached } from '../db/request-deadline.js';
import type { DeployedCapacity } from '../domain/capacity.js';
import { logger } from '../logger.js';
import type { DbRetryPolicy } from '../services/db-retry.js';
import type { InboundDeps } from '../services/inbound.js';
import type { ApiErrorCode } from '../services/operator-views.js';
import {
  type Clock,
  type DeliveryScheduler,
  type MetricsSink,
  type RateLimiter,
  type SendStarter,
  type SmsSender,
  systemClock,
  type WebhookSpool,
} from '../services/ports.js';
import type { StatusCallbackDeps } from '../services/status-callbacks.js';
import type { KeptReplies } from '../services/webhook-spool.js';
import { answerDeadline, RETRY_AFTER_SECONDS } from './api-deadline.js';
import { apiError, ClientError, codeForStatus } from './errors.js';
import { matchedRoute } from './matched-route.js';
import { openApiDocument } from './openapi.js';
import { healthRoutes } from './routes/health.js';
import { operatorRoutes } from './routes/operations.js';
import { subscriberRoutes } from './routes/subscribers.js';
import { twilioRoutes } from './routes/twilio.js';
import { type TwilioSigningCredentials, twiml } from './twilio.js';

/** Twilio bodies are a few kB; the API's are smaller still. */
const MAX_BODY_BYTES = 64 * 1024;

/** What the app needs to know: the URL Twilio signs against, and the two tokens it checks requests with. */
export type AppConfig = Requiring<'PUBLIC_BASE_URL'> & {
  credentials: {
    /** In AWS the whole Twilio secret; its account SID tells our refused webhooks from scans. */
    twilio: Credentials<TwilioSigningCredentials>;
    /** Without it the subscriber API is off (401). */
    api?: Credentials<ApiCredentials>;
  };
};

export interface AppDeps {
  config: AppConfig;
  db: Db;
  sms: SmsSender;
  scheduler: DeliveryScheduler;
  /** The API's limiter (per token); without one the API is not rate limited. Twilio's routes count
   *  RATE_LIMIT_INBOUND_PER_MIN / RATE_LIMIT_STATUS_PER_MIN inside their own SQL statement instead. */
  limiter?: RateLimiter;
  /** Where signed webhooks wait while the database is unreachable (SQS in AWS, a directory locally). */
  spool?: WebhookSpool;
  /** How long a webhook's statement is retried while the database is unreachable (default 5 s). */
  retry?: DbRetryPolicy;
  clock?: Clock;
  /** Opt-outs, opt-ins and final delivery statuses are counted here (the caller flushes). */
  metrics?: MetricsSink;
  /** Hands an operator's test send to the sender (the sender Lambda in AWS, in-process timers locally). */
  starter?: SendStarter;
  /** The stage's capacity inputs, for GET /api/capacity. */
  capacity?: DeployedCapacity;
}

/** Methods each known path accepts, for 405 + Allow. */
const ALLOWED: [string, string][] = [
  ['/twilio/inbound', 'POST'],
  ['/twilio/status', 'POST'],
  ['/health', 'GET, HEAD'],
  ['/api/subscribers', 'GET, POST'],
  ['/api/subscribers/:phone', 'GET, PATCH, DELETE'],
  ['/api/subscribers/:phone/send-now', 'POST'],
  ['/api/deliveries', 'GET'],
  ['/api/deliveries/:id', 'GET'],
  ['/api/usage', 'GET'],
  ['/api/capacity', 'GET'],
  ['/api/openapi.json', 'GET'],
];

const isTwilioPath = (c: Context) => c.req.path.startsWith('/twilio/');

/** Twilio's routes answer TwiML whatever went wrong; every other route an /api error body. */
function clientError(c: Context, status: ClientError['status'], message: string, code?: ApiErrorCode) {
  return isTwilioPath(c)
    ? twiml(c, null, status)
    : apiError(c, status, code ?? codeForStatus(status), message);
}

/**
 * 413 above `maxSize`. A declared Content-Length is judged from the header alone: hono's bodyLimit reads
 * `c.req.raw.body` first, which makes @hono/node-server build a full web Request (stream, abort signal)
 * for every webhook, a large share of each request's CPU. Chunked bodies still go through bodyLimit.
 */
function limitBody(maxSize: number, onError: (c: Context) => Response): MiddlewareHandler {
  const streaming = bodyLimit({ maxSize, onError });
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && /^\d+$/.test(length) && c.req.header('transfer-encoding') === undefined) {
      return Number(length) > maxSize ? onError(c) : next();
    }
    return streaming(c, next);
  };
}

/**
 * What the inbound and status-callback services need, from the app's dependencies: the live routes and
 * the spool drainer (src/services/webhook-spool.ts) apply webhooks with the same settings.
 */
export function webhookDeps(
  deps: Pick<AppDeps, 'config' | 'db' | 'scheduler' | 'sms' | 'clock' | 'spool' | 'retry'>,
): { inbound: InboundDeps; status: StatusCallbackDeps; replies: KeptReplies } {
  const { config, db, scheduler, spool, retry } = deps;
  const clock = deps.clock ?? systemClock;
  return {
    inbound: {
      db,
      scheduler,
      clock,
      spool,
      retry,
      settings: {
        serviceName: config.SERVICE_NAME,
        helpContact: config.HELP_CONTACT,
        advancedOptOut: config.TWILIO_ADVANCED_OPT_OUT,
        defaultTimeZone: config.DEFAULT_TIMEZONE,
        perSenderPerMinute: config.RATE_LIMIT_INBOUND_PER_MIN,
      },
    },
    status: { db, scheduler, clock, spool, retry, perMessagePerMinute: config.RATE_LIMIT_STATUS_PER_MIN },
    // A kept text is answered by SMS when it is applied: its request was answered 503 long ago.
    replies: { sms: deps.sms, statusCallbackUrl: `${config.PUBLIC_BASE_URL}/twilio/status` },
  };
}

export function createApp(deps: AppDeps): Hono {
  const { config } = deps;
  const publicBaseUrl = config.PUBLIC_BASE_URL;
  const clock = deps.clock ?? systemClock;
  const replies = { serviceName: config.SERVICE_NAME, helpContact: config.HELP_CONTACT };

  const app = new Hono();
  app.use(
    limitBody(MAX_BODY_BYTES, (c) => clientError(c, 413, `the body is larger than ${MAX_BODY_BYTES} bytes`)),
  );

  app.route('/health', healthRoutes({ db: deps.db }));
  app.route(
    '/twilio',
    twilioRoutes({
      credentials: config.credentials.twilio,
      publicBaseUrl,
      metrics: deps.metrics,
      ...webhookDeps({ ...deps, clock }),
    }),
  );
  app.route(
    '/api/subscribers',
    subscriberRoutes({
      db: deps.db,
      sms: deps.sms,
      scheduler: deps.scheduler,
      clock,
      api: config.credentials.api,
      limiter: deps.limiter,
      starter: deps.starter,
      window: sendWindow(config),
      settings: {
        ...replies,
        defaultTimeZone: config.DEFAULT_TIMEZONE,
        statusCallbackUrl: `${publicBaseUrl}/twilio/status`,
      },
    }),
  );

  app.route(
    '/api',
    operatorRoutes({
      db: deps.db,
      clock,
      api: config.credentials.api,
      limiter: deps.limiter,
      defaultTimeZone: config.DEFAULT_TIMEZONE,
      capacity: deps.capacity,
    }),
  );
  // Public: tools read the description before they hold a token; it says nothing about anyone.
  app.get('/api/openapi.json', (c) => c.json(openApiDocument()));

  for (const [path, allow] of ALLOWED) {
    app.all(path, (c) => {
      c.header('Allow', allow);
      return clientError(c, 405, `${c.req.method} is not allowed here; use ${allow}`, 'no_route');
    });
  }
  // no_route, not not_found: a caller must tell a wrong URL from an unknown subscriber or delivery.
  app.notFound((c) => clientError(c, 404, `no route for ${c.req.method} ${c.req.path}`, 'no_route'));

  app.onError((error, c) => {
    if (error instanceof ClientError) return clientError(c, error.status, error.message, error.code);
    if (error instanceof HTTPException && error.status < 500) {
      return clientError(c, error.status as ClientError['status'], error.message || 'bad request');
    }
    // A read-only /api route that stopped at the request's deadline (the others answer it themselves).
    if (error instanceof DeadlineReached) return answerDeadline(c, error, 'nothing was changed');
    if (isDbUnavailable(error)) {
      logger.error('database unavailable', { route: matchedRoute(c), error });
      c.header('Retry-After', '5');
      return isTwilioPath(c)
        ? twiml(c, null, 503)
        : apiError(c, 503, 'unavailable', 'the database is unavailable; try again shortly');
    }
    // A secret's store did not answer (an outside call's credentials, re-read when the cache expired): the
    // value is unknown for now, not wrong, so the caller is told when to try again, not of a bug.
    if (error instanceof SecretUnavailable) {
      logger.error('a secret could not be read', { route: matchedRoute(c), error });
      c.header('Retry-After', String(RETRY_AFTER_SECONDS));
      return isTwilioPath(c)
        ? twiml(c, null, 503)
        : apiError(c, 503, 'unavailable', `${error.message} right now; try again in a few seconds`);
    }
    logger.error('unhandled error', { route: matchedRoute(c), error });
    return isTwilioPath(c) ? twiml(c, null, 500) : apiError(c, 500, 'failed', 'internal error');
  });
  return app;
}
