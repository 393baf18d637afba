// What the /api routes accept: path, query and body schemas. The routes parse with them and the OpenAPI
// description (openapi.ts) is generated from them, so the document cannot promise what the code refuses.
import type { Context } from 'hono';
import * as z from 'zod';
import { CalendarDateField } from '../domain/calendar-date.js';
import { describeProblems, NameField, PhoneField, TimeZoneField } from '../domain/subscriber-fields.js';
import { SubscriberStatusSchema } from '../services/operator-views.js';
import { ClientError } from './errors.js';

const flag = z
  .enum(['true', 'false'])
  .optional()
  .transform((v) => v === 'true');

export const PhoneParams = z.object({
  phone: PhoneField.meta({
    description:
      'E.164, URL-encoded (+ as %2B); spaces, dashes, dots and parentheses between the digits are accepted, any other text or an extension is refused',
    example: '+14155550123',
  }),
});
export const DeliveryParams = z.object({ id: z.uuid({ error: 'must be a delivery id (a UUID)' }) });

export const CreateSubscriberBody = z.strictObject({
  phone: PhoneField,
  timeZone: TimeZoneField.optional(),
  name: NameField.nullable().optional(),
});
export const PatchSubscriberBody = z
  .strictObject({
    timeZone: TimeZoneField.optional(),
    name: NameField.nullable().optional(),
    paused: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'give at least one of timeZone, name, paused');

export const SubscriberListQuery = z.strictObject({
  status: SubscriberStatusSchema.optional(),
  paused: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => (v === undefined ? undefined : v === 'true')),
  timeZone: TimeZoneField.optional(),
  limit: z.coerce
    .number({ error: 'must be a whole number from 1 to 1000' })
    .int('must be a whole number from 1 to 1000')
    .min(1, 'must be a whole number from 1 to 1000')
    .max(1000, 'must be a whole number from 1 to 1000')
    .default(100),
  after: z.string().optional().meta({ description: 'the `next` of the previous page' }),
});

export const BodiesQuery = z.strictObject({
  bodies: flag.meta({ description: 'include each message text (default false)' }),
});
export const DeliveriesQuery = BodiesQuery.extend({
  date: CalendarDateField.optional().meta({
    description: 'local date, 0001-01-01 to 9999-12-31; default today in DEFAULT_TIMEZONE',
  }),
});
export const UsageQuery = z.strictObject({
  day: CalendarDateField.optional().meta({ description: 'UTC day, 0001-01-01 to 9999-12-31; default today' }),
});
export const CapacityQuery = z.strictObject({
  subscribers: z.coerce
    .number({ error: 'must be a whole number from 1 to 100000000' })
    .int('must be a whole number from 1 to 100000000')
    .min(1, 'must be a whole number from 1 to 100000000')
    .max(100_000_000, 'must be a whole number from 1 to 100000000')
    .default(1000),
  zones: z.string().max(2000).optional().meta({
    description:
      'time-zone mix, e.g. America/New_York=60,America/Los_Angeles=40; each share a finite weight above 0 (default 1)',
  }),
});

/** Checked input from a path, query or JSON body, or a 400 naming each bad field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ClientError(400, describeProblems(parsed.error));
  return parsed.data;
}

export function queryOf<T extends z.ZodType>(c: Context, schema: T): z.output<T> {
  return parseInput(schema, c.req.query());
}

/** A JSON body checked by `schema`: 415 without the JSON content type, 400 when malformed or invalid. */
export async function jsonBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) {
    throw new ClientError(415, 'send JSON with Content-Type: application/json');
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new ClientError(400, 'the body is not valid JSON');
  }
  return parseInput(schema, body);
}
