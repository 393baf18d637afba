// The OpenAPI 3.0 description of /api, served at GET /api/openapi.json: generated from the same zod schemas
// the routes parse with (api-schemas.ts) and the views they answer with (services/operator-views.ts), so
// other tools can call the API and the document cannot promise what the code does not do.
import {
  OpenAPIRegistry,
  OpenApiGeneratorV3,
  type ResponseConfig,
  type RouteConfig,
} from '@asteasolutions/zod-to-openapi';
import type * as z from 'zod';
import {
  ApiErrorSchema,
  CapacityViewSchema,
  DailyReportSchema,
  DeliveriesOfDateSchema,
  DeliveryViewSchema,
  SendNowViewSchema,
  SubscriberDetailSchema,
  SubscriberPageSchema,
  SubscriberViewSchema,
} from '../services/operator-views.js';
import {
  BodiesQuery,
  CapacityQuery,
  CreateSubscriberBody,
  DeliveriesQuery,
  DeliveryParams,
  PatchSubscriberBody,
  PhoneParams,
  SubscriberListQuery,
  UsageQuery,
} from './api-schemas.js';

/** Bumped when a response loses or changes a field; additions keep it. */
const API_VERSION = '1.0.0';

const json = (description: string, schema: z.ZodType): ResponseConfig => ({
  description,
  content: { 'application/json': { schema } },
});
const error = (description: string) => json(description, ApiErrorSchema);

/** Answers every guarded route can give. */
const COMMON: Record<number, ResponseConfig> = {
  400: error('bad input: the message names each bad field'),
  401: error('missing or invalid bearer token'),
  429: error('over the per-token budget (RATE_LIMIT_API_PER_MIN); see Retry-After'),
  503: error(
    'the database is unavailable, or the request ran out of time and stopped (the message says what was done); see Retry-After',
  ),
};

type Operation = Omit<RouteConfig, 'responses' | 'security'> & { responses: Record<number, ResponseConfig> };

const OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/api/subscribers',
    operationId: 'listSubscribers',
    summary: 'List subscribers in the order they were added, one page at a time',
    request: { query: SubscriberListQuery },
    responses: { 200: json('one page', SubscriberPageSchema) },
  },
  {
    method: 'post',
    path: '/api/subscribers',
    operationId: 'addSubscriber',
    summary: 'Add a pending subscriber and text the double opt-in request (they confirm with YES)',
    request: { body: { content: { 'application/json': { schema: CreateSubscriberBody } } } },
    responses: {
      201: json('the pending subscriber', SubscriberViewSchema),
      409: error('the number exists, or has opted out'),
      422: error('Twilio refused the opt-in text; nothing was saved'),
      502: error(
        'the opt-in text could not be sent right now (nothing was saved; try again), or Twilio did not say whether it took it (saved as pending; do not repeat)',
      ),
    },
  },
  {
    method: 'get',
    path: '/api/subscribers/{phone}',
    operationId: 'showSubscriber',
    summary: 'One subscriber and their latest 10 deliveries',
    request: { params: PhoneParams, query: BodiesQuery },
    responses: {
      200: json('the subscriber', SubscriberDetailSchema),
      404: error('no subscriber has this number'),
    },
  },
  {
    method: 'patch',
    path: '/api/subscribers/{phone}',
    operationId: 'changeSubscriber',
    summary: 'Change time zone, name or pause (pausing cancels planned deliveries)',
    request: {
      params: PhoneParams,
      body: { content: { 'application/json': { schema: PatchSubscriberBody } } },
    },
    responses: {
      200: json('the subscriber', SubscriberViewSchema),
      404: error('no subscriber has this number'),
      409: error('the subscriber has opted out'),
    },
  },
  {
    method: 'delete',
    path: '/api/subscribers/{phone}',
    operationId: 'removeSubscriber',
    summary: 'Opt out and erase the name; the consent ledger is kept',
    request: { params: PhoneParams },
    responses: {
      200: json('the opted-out subscriber', SubscriberViewSchema),
      404: error('no subscriber has this number'),
    },
  },
  {
    method: 'post',
    path: '/api/subscribers/{phone}/send-now',
    operationId: 'sendNow',
    summary:
      "Test send: today's message for an active subscriber, handed to the sender now (one per local day). " +
      'Poll GET /api/deliveries/{id} for the outcome.',
    request: { params: PhoneParams },
    responses: {
      202: json("today's delivery, due now", SendNowViewSchema),
      404: error('no subscriber has this number'),
      409: error("refused: pending, paused or opted out, or today's delivery already happened"),
      502: error('the sender could not be started; nothing was sent, try again'),
    },
  },
  {
    method: 'get',
    path: '/api/deliveries',
    operationId: 'listDeliveries',
    summary: 'Deliveries of one local date: state, reason, planned time, delivery status',
    request: { query: DeliveriesQuery },
    responses: { 200: json('the deliveries, by planned time', DeliveriesOfDateSchema) },
  },
  {
    method: 'get',
    path: '/api/deliveries/{id}',
    operationId: 'showDelivery',
    summary: 'One delivery',
    request: { params: DeliveryParams, query: BodiesQuery },
    responses: {
      200: json('the delivery', DeliveryViewSchema),
      404: error('no delivery has this id'),
    },
  },
  {
    method: 'get',
    path: '/api/usage',
    operationId: 'usage',
    summary: 'The daily report of one UTC day: sends, delivery rate, skips, opt-outs, tokens, cost',
    request: { query: UsageQuery },
    responses: { 200: json('the report', DailyReportSchema) },
  },
  {
    method: 'get',
    path: '/api/capacity',
    operationId: 'capacity',
    summary: "What a day of N subscribers needs under the deployed stage's settings, and the monthly cost",
    request: { query: CapacityQuery },
    responses: {
      200: json('the report', CapacityViewSchema),
      503: error('this deployment does not publish its capacity settings'),
    },
  },
];

function buildDocument() {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'API_TOKEN (Secrets Manager daily-positivity/<stage>/api; locally .data/local-secrets.json)',
  });
  for (const op of OPERATIONS) {
    registry.registerPath({
      ...op,
      security: [{ [bearer.name]: [] }],
      responses: { ...COMMON, ...op.responses },
    });
  }
  registry.registerPath({
    method: 'get',
    path: '/api/openapi.json',
    operationId: 'openApi',
    summary: 'This document (no token needed)',
    responses: {
      200: { description: 'OpenAPI 3.0 document', content: { 'application/json': { schema: {} } } },
    },
  });
  return new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: {
      title: 'Daily Positivity SMS operator API',
      version: API_VERSION,
      description:
        'Subscribers, deliveries, usage, capacity and a test send, for the operator of a deployment. ' +
        'Errors are {"error": "<what is wrong>", "code": "<machine code>"}. Phone numbers are E.164 and ' +
        'appear in full in responses, never in logs.',
    },
  });
}

let cached: ReturnType<typeof buildDocument> | undefined;

/** The document, built on first use (a cold start that never serves it never pays for it). */
export function openApiDocument(): ReturnType<typeof buildDocument> {
  cached ??= buildDocument();
  return cached;
}
