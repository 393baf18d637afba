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

const LONE_SURROGATE = /\p{Cs}/u;
const codePoint = (ch: string) => `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase()}`;

interface Visit {
  value: unknown;
  key?: string;
  parent?: Visit;
}
/** "a.b.0" for the value's place in the body; a path deeper than a few fields is cut short ("a.b.c.d.…"). */
function pathOf(visit: Visit): string {
  const keys: string[] = [];
  for (let at: Visit | undefined = visit; at?.key !== undefined; at = at.parent) keys.push(at.key);
  keys.reverse();
  return keys.length > 4 ? `${keys.slice(0, 4).join('.')}.…` : keys.join('.');
}

/**
 * Where the first lone surrogate in a parsed body is, as "field: …" words, or null when there is none.
 * Iterative, each value linked to its parent: a body 30,000 arrays deep (JSON.parse takes it) must neither
 * overflow the stack here nor copy its path at every level.
 */
function loneSurrogateIn(body: unknown): string | null {
  const found = (ch: string, field: string) =>
    `${field} must be valid Unicode text (found a lone surrogate ${codePoint(ch)})`;
  const pending: Visit[] = [{ value: body }];
  for (let visit = pending.pop(); visit; visit = pending.pop()) {
    const { value } = visit;
    if (typeof value === 'string') {
      const ch = LONE_SURROGATE.exec(value)?.[0];
      if (ch) return found(ch, visit.parent ? `${pathOf(visit)}:` : 'the body');
    } else if (typeof value === 'object' && value !== null) {
      const entries = Object.entries(value);
      for (const [key] of entries) {
        const ch = LONE_SURROGATE.exec(key)?.[0];
        if (ch) return found(ch, 'a field name');
      }
      // Reversed onto the stack, so fields are visited in the order they were sent.
      for (const [key, item] of entries.reverse()) pending.push({ value: item, key, parent: visit });
    }
  }
  return null;
}

/**
 * A JSON body checked by `schema`: 415 without the JSON content type, 400 when malformed or invalid. JSON
 * between systems must be UTF-8 (RFC 8259 §8.1) and its strings Unicode text (§8.2, RFC 7493 §2.1): bytes
 * that are not UTF-8 and escaped lone surrogates are refused, where a lenient decode would store U+FFFD.
 */
export async function jsonBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) {
    throw new ClientError(415, 'send JSON with Content-Type: application/json');
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await c.req.arrayBuffer());
  } catch {
    throw new ClientError(400, 'the body is not valid JSON: it is not UTF-8 text');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ClientError(400, 'the body is not valid JSON');
  }
  const surrogate = loneSurrogateIn(body);
  if (surrogate) throw new ClientError(400, surrogate);
  return parseInput(schema, body);
}
