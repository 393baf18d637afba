// Lambda entry point behind API Gateway (HTTP API): builds the app once per cold start and hands each
// event to it. All routing, parsing and logic live in src/http and src/services. The same Lambda consumes
// the webhook spool (SQS): webhooks it kept while Postgres was unreachable come back as SQS events.
import { MetricService, PowertoolsMetricsSink } from '../metrics.js';
import type { MetricsSink } from '../services/ports.js';
import {
  type ApiGatewayContext,
  type ApiGatewayEvent,
  buildWebhooksLambda,
  deployedWebhookAdapters,
  isSqsEvent,
  type WireAdapters,
} from '../wiring/webhooks.js';
import { onColdStart } from './cold-start.js';
import { lambdaHandler } from './lambda.js';

export function createWebhooksHandler(
  wire: WireAdapters,
  env: Record<string, string | undefined> = process.env,
  metrics?: MetricsSink,
) {
  const built = onColdStart(() => buildWebhooksLambda(wire, env, metrics));
  return lambdaHandler(async (event, context) => {
    const { http, replay } = await built();
    if (isSqsEvent(event)) return replay(event, context);
    return http(event as ApiGatewayEvent, context as ApiGatewayContext);
  }, metrics);
}

export const handler = createWebhooksHandler(
  deployedWebhookAdapters,
  process.env,
  new PowertoolsMetricsSink({ serviceName: MetricService.webhooks }),
);
