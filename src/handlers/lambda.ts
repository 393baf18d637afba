// The one wrapper every Lambda entry uses: Powertools' middlewares through Middy.
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from '../logger.js';
import type { MetricsSink } from '../services/ports.js';

/** A Lambda entry. Tests and manual invocations may pass only part of a context, or none. */
export type LambdaEntry<R> = (event: unknown, context?: Partial<Context>) => Promise<R>;

/**
 * Wraps a handler body so every log line carries the Lambda context (function_request_id, cold_start, …),
 * keys appended during an invocation are cleared after it, and the metrics it counted are flushed once,
 * also when it throws. The body parses the event, calls one service and shapes the answer.
 *
 * The log level is LOG_LEVEL from the environment (the variable config.ts validates): Powertools restores the
 * level the logger was created with at the start of every invocation, so it is not set from config here.
 */
export function lambdaHandler<R>(
  body: (event: unknown, context: Partial<Context>) => Promise<R>,
  metrics?: MetricsSink,
): LambdaEntry<R> {
  const wrapped = middy(body).use(injectLambdaContext(logger, { resetKeys: true }));
  const powertools = powertoolsMetricsOf(metrics);
  if (powertools) wrapped.use(logMetrics(powertools));
  return (event, context = {}) => wrapped(event, context as Context);
}

/**
 * The Powertools Metrics behind a sink (PowertoolsMetricsSink), if any. Checked by shape, not class, so a
 * Lambda that counts nothing (migrate, daily report) does not bundle Powertools Metrics for the check.
 */
function powertoolsMetricsOf(sink: MetricsSink | undefined): Metrics | undefined {
  return sink && 'metrics' in sink ? (sink as { metrics: Metrics }).metrics : undefined;
}
