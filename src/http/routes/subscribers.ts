// The subscriber API: GET (list) and POST /api/subscribers, GET/PATCH/DELETE /api/subscribers/:phone, and
// POST /api/subscribers/:phone/send-now (an operator's test send). JSON in and out, bearer-token auth, every
// input checked with zod; each failure is a 4xx saying what is wrong, with a `code` for scripts.
import { type Context, Hono } from 'hono';
import type { ApiCredentials, Credentials } from '../../adapters/credentials.js';
import { dbWithDeadline } from '../../db/connection.js';
import { DeadlineReached } from '../../db/request-deadline.js';
import { type E164, parseE164 } from '../../domain/phone.js';
import { FIELD_RULES } from '../../domain/subscriber-fields.js';
import {
  listSubscriberPage,
  OperationError,
  sendNowView,
  subscriberDetail,
} from '../../services/operations.js';
import { type RateLimiter, RecipientOptedOut, type SendStarter, SmsError } from '../../services/ports.js';
import { SendNotStarted, SendNowRefused, startSendNow } from '../../services/send-now.js';
import {
  createSubscriber,
  patchSubscriber,
  removeSubscriber,
  SignUpIncomplete,
  SubscriberConflict,
  type SubscriberDeps,
  SubscriberNotFound,
} from '../../services/subscribers.js';
import { type ApiEnv, apiAccess } from '../api-auth.js';
import {
  answerDeadline,
  ensureTimeToHandOver,
  ensureTimeToText,
  RETRY_AFTER_SECONDS,
  SENDER_HANDOVER,
  smsWithinDeadline,
  starterWithinDeadline,
} from '../api-deadline.js';
import {
  BodiesQuery,
  CreateSubscriberBody,
  jsonBody,
  PatchSubscriberBody,
  queryOf,
  SubscriberListQuery,
} from '../api-schemas.js';
import { apiError, ClientError } from '../errors.js';

function phoneParam(c: Context): E164 {
  const phone = parseE164(c.req.param('phone') ?? '');
  if (!phone) throw new ClientError(400, `phone in the path ${FIELD_RULES.phone} (URL-encode + as %2B)`);
  return phone;
}

/**
 * Service errors the caller can act on → their 4xx; Twilio refusing the opt-in SMS → 409/422/502; the
 * request's deadline → 503, saying what the route did (`outcome`: nothing, unless the route says otherwise).
 */
function answerError(c: Context, error: unknown, outcome = 'nothing was changed') {
  if (error instanceof DeadlineReached) return answerDeadline(c, error, outcome);
  if (error instanceof SubscriberNotFound) return apiError(c, 404, 'not_found', error.message);
  if (error instanceof SubscriberConflict)
    return c.json({ error: error.message, code: 'conflict', status: error.status }, 409);
  if (error instanceof SendNowRefused) return apiError(c, 409, 'refused', error.message);
  if (error instanceof SendNotStarted) return apiError(c, 502, 'unavailable', error.message);
  if (error instanceof SignUpIncomplete) {
    const retry = error.retryable ? { 'Retry-After': String(RETRY_AFTER_SECONDS) } : undefined;
    return apiError(c, error.status, 'unavailable', error.message, retry);
  }
  // The services' input errors (a cursor no page could give) are all bad input.
  if (error instanceof OperationError) return apiError(c, 400, 'bad_input', error.message);
  if (error instanceof SmsError) {
    if (error instanceof RecipientOptedOut) {
      return apiError(
        c,
        409,
        'conflict',
        'this number has opted out with the carrier (Twilio 21610); nothing was saved',
      );
    }
    if (!error.retryable) {
      return apiError(
        c,
        422,
        'refused',
        `the opt-in SMS was refused (Twilio ${error.code ?? 'error'}); nothing was saved`,
      );
    }
    return apiError(
      c,
      502,
      'unavailable',
      'the opt-in SMS could not be sent right now; nothing was saved, try again',
    );
  }
  throw error;
}

export interface SubscriberRouteDeps extends SubscriberDeps {
  /** The API's bearer token; without it the API answers 401 to everything. */
  api: Credentials<ApiCredentials> | undefined;
  limiter?: RateLimiter;
  /** Hands a test send to the sender; without one, send-now answers 503. */
  starter?: SendStarter;
}

/** The services' dependencies as this request may use them: statements and texts keep to its deadline. */
function withinDeadline(c: Context<ApiEnv>, deps: SubscriberDeps): SubscriberDeps {
  const deadline = c.get('deadline');
  return { ...deps, db: dbWithDeadline(deps.db, deadline), sms: smsWithinDeadline(deps.sms, deadline) };
}

export function subscriberRoutes(deps: SubscriberRouteDeps) {
  const routes = new Hono<ApiEnv>();
  routes.use(...apiAccess(deps.api, deps.limiter));

  routes.get('/', async (c) => {
    const query = queryOf(c, SubscriberListQuery);
    try {
      return c.json(await listSubscriberPage(dbWithDeadline(deps.db, c.get('deadline')), query));
    } catch (error) {
      return answerError(c, error);
    }
  });
  routes.post('/', async (c) => {
    const body = await jsonBody(c, CreateSubscriberBody);
    try {
      const deadline = c.get('deadline');
      return c.json(
        await createSubscriber(
          {
            ...withinDeadline(c, deps),
            // A sign-up whose text did not go out is undone whatever the time left, like a ROLLBACK.
            undoDb: deps.db,
            beforeCommit: () => ensureTimeToText(deadline),
          },
          body,
        ),
        201,
      );
    } catch (error) {
      return answerError(c, error, 'nothing was saved and no text was sent');
    }
  });
  routes.get('/:phone', async (c) => {
    const phone = phoneParam(c);
    const { bodies } = queryOf(c, BodiesQuery);
    try {
      return c.json(await subscriberDetail(dbWithDeadline(deps.db, c.get('deadline')), phone, { bodies }));
    } catch (error) {
      return answerError(c, error);
    }
  });
  routes.patch('/:phone', async (c) => {
    const phone = phoneParam(c);
    const body = await jsonBody(c, PatchSubscriberBody);
    try {
      return c.json(await patchSubscriber(withinDeadline(c, deps), phone, body));
    } catch (error) {
      return answerError(c, error);
    }
  });
  routes.delete('/:phone', async (c) => {
    const phone = phoneParam(c);
    try {
      return c.json(await removeSubscriber(withinDeadline(c, deps), phone));
    } catch (error) {
      return answerError(c, error, 'nothing was changed: the subscriber was not removed');
    }
  });
  routes.post('/:phone/send-now', async (c) => {
    const phone = phoneParam(c);
    const starter = deps.starter;
    if (!starter) return apiError(c, 503, 'unavailable', 'test sends are not available on this server');
    const deadline = c.get('deadline');
    try {
      const reserved = await startSendNow(
        {
          send: { db: dbWithDeadline(deps.db, deadline), clock: deps.clock },
          scheduler: deps.scheduler,
          starter: starterWithinDeadline(starter, deadline),
          window: deps.window,
          // Refused for want of time, the reservation rolls back: the planned schedule stays as it was.
          beforeCommit: () => ensureTimeToHandOver(deadline),
        },
        phone,
      );
      // The send has started: its answer is read whatever the time (within the deadline's finish), so on
      // the database without the deadline.
      return c.json(await sendNowView(deps.db, reserved), 202);
    } catch (error) {
      const handedOver = error instanceof DeadlineReached && error.what === SENDER_HANDOVER;
      return answerError(
        c,
        error,
        handedOver
          ? "today's delivery is due now but was not handed to the sender, so nothing was sent; repeat send-now to send it"
          : 'nothing was changed and nothing was sent',
      );
    }
  });
  return routes;
}
