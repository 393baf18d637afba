// The subscriber config API: POST /api/subscribers, GET/PATCH/DELETE /api/subscribers/:phone. JSON in and
// out, bearer-token auth, every input checked with zod; each failure is a 4xx saying what is wrong.
import { type Context, Hono } from 'hono';
import * as z from 'zod';
import type { ApiCredentials, Credentials } from '../../adapters/credentials.js';
import { type E164, parseE164 } from '../../domain/phone.js';
import {
  describeProblems,
  FIELD_RULES,
  NameField,
  PhoneField,
  TimeZoneField,
} from '../../domain/subscriber-fields.js';
import { type RateLimiter, RecipientOptedOut, SmsError } from '../../services/ports.js';
import {
  createSubscriber,
  getSubscriber,
  patchSubscriber,
  removeSubscriber,
  SubscriberConflict,
  type SubscriberDeps,
  SubscriberNotFound,
} from '../../services/subscribers.js';
import { type ApiEnv, requireApiToken } from '../api-auth.js';
import { ClientError } from '../errors.js';
import { rateLimit } from '../rate-limit.js';

const CreateBody = z.strictObject({
  phone: PhoneField,
  timeZone: TimeZoneField.optional(),
  name: NameField.nullable().optional(),
});
const PatchBody = z
  .strictObject({
    timeZone: TimeZoneField.optional(),
    name: NameField.nullable().optional(),
    paused: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'give at least one of timeZone, name, paused');

async function jsonBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) {
    throw new ClientError(415, 'send JSON with Content-Type: application/json');
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new ClientError(400, 'the body is not valid JSON');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ClientError(400, describeProblems(parsed.error));
  return parsed.data;
}

function phoneParam(c: Context): E164 {
  const phone = parseE164(c.req.param('phone') ?? '');
  if (!phone) throw new ClientError(400, `phone in the path ${FIELD_RULES.phone} (URL-encode + as %2B)`);
  return phone;
}

/** Service errors the caller can act on → their 4xx; Twilio refusing the opt-in SMS → 409/422/502. */
function answerError(c: Context, error: unknown) {
  if (error instanceof SubscriberNotFound) return c.json({ error: error.message }, 404);
  if (error instanceof SubscriberConflict) return c.json({ error: error.message, status: error.status }, 409);
  if (error instanceof SmsError) {
    if (error instanceof RecipientOptedOut) {
      return c.json(
        { error: 'this number has opted out with the carrier (Twilio 21610); nothing was saved' },
        409,
      );
    }
    if (!error.retryable) {
      return c.json(
        { error: `the opt-in SMS was refused (Twilio ${error.code ?? 'error'}); nothing was saved` },
        422,
      );
    }
    return c.json({ error: 'the opt-in SMS could not be sent right now; nothing was saved, try again' }, 502);
  }
  throw error;
}

export interface SubscriberRouteDeps extends SubscriberDeps {
  /** The subscriber API's bearer token; without it the API answers 401 to everything. */
  api: Credentials<ApiCredentials> | undefined;
  limiter?: RateLimiter;
}

export function subscriberRoutes(deps: SubscriberRouteDeps) {
  const routes = new Hono<ApiEnv>();
  routes.use(requireApiToken(deps.api));
  routes.use(
    rateLimit<ApiEnv>({
      limiter: deps.limiter,
      budget: 'api',
      style: 'json',
      key: (c) => `token:${c.get('apiTokenKey')}`,
    }),
  );

  routes.post('/', async (c) => {
    const body = await jsonBody(c, CreateBody);
    try {
      return c.json(await createSubscriber(deps, body), 201);
    } catch (error) {
      return answerError(c, error);
    }
  });
  routes.get('/:phone', async (c) => {
    const phone = phoneParam(c);
    try {
      return c.json(await getSubscriber(deps, phone));
    } catch (error) {
      return answerError(c, error);
    }
  });
  routes.patch('/:phone', async (c) => {
    const phone = phoneParam(c);
    const body = await jsonBody(c, PatchBody);
    try {
      return c.json(await patchSubscriber(deps, phone, body));
    } catch (error) {
      return answerError(c, error);
    }
  });
  routes.delete('/:phone', async (c) => {
    const phone = phoneParam(c);
    try {
      return c.json(await removeSubscriber(deps, phone));
    } catch (error) {
      return answerError(c, error);
    }
  });
  return routes;
}
