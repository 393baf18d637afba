// Powertools EMF output: the right namespace, names, units, values and dimensions on stdout.
import { expect, it } from 'vitest';
import {
  countInboundResult,
  countSendOutcome,
  InMemoryMetricsSink,
  METRICS_NAMESPACE,
  MetricName,
  PowertoolsMetricsSink,
} from '../../src/metrics.js';
import { captureStdout } from '../support/capture-stdout.js';

interface Emf {
  _aws: {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

const lines = captureStdout();
const emf = () => lines.map((l) => JSON.parse(l) as Emf);
const directive = (doc: Emf) => doc._aws.CloudWatchMetrics[0];

it('a send: buffered counts go out as one EMF document on flush', () => {
  const sink = new PowertoolsMetricsSink({ serviceName: 'sender' });
  sink.count(MetricName.MessagesSent);
  sink.count(MetricName.OpenAIRequests);
  sink.count(MetricName.OpenAITokens, 187);
  sink.count(MetricName.EstimatedCostUSD, 0.008395);
  expect(lines).toHaveLength(0);
  sink.flush();

  const [doc] = emf();
  expect(doc).toBeDefined();
  const d = directive(doc as Emf);
  expect(d?.Namespace).toBe(METRICS_NAMESPACE);
  expect(d?.Dimensions).toEqual([['service']]);
  expect(d?.Metrics).toEqual(
    expect.arrayContaining([
      { Name: 'MessagesSent', Unit: 'Count' },
      { Name: 'OpenAIRequests', Unit: 'Count' },
      { Name: 'OpenAITokens', Unit: 'Count' },
      { Name: 'EstimatedCostUSD', Unit: 'None' },
    ]),
  );
  expect(doc).toMatchObject({
    service: 'sender',
    MessagesSent: 1,
    OpenAIRequests: 1,
    OpenAITokens: 187,
    EstimatedCostUSD: 0.008395,
  });
});

it('a fallback: the FallbackMessages count is published', () => {
  const sink = new PowertoolsMetricsSink({ serviceName: 'sender' });
  sink.count(MetricName.FallbackMessages);
  sink.count(MetricName.MessagesSent);
  sink.flush();
  expect(emf()[0]).toMatchObject({ FallbackMessages: 1, MessagesSent: 1 });
});

it('a skip: the reason is a dimension, emitted at once on its own line', () => {
  const sink = new PowertoolsMetricsSink({ serviceName: 'sender' });
  sink.count(MetricName.DeliveriesSkipped, 1, { reason: 'cost_cap' });
  expect(lines).toHaveLength(1);
  const [doc] = emf();
  expect(directive(doc as Emf)?.Dimensions).toEqual([['service', 'reason']]);
  expect(directive(doc as Emf)?.Metrics).toEqual([{ Name: 'DeliveriesSkipped', Unit: 'Count' }]);
  expect(doc).toMatchObject({ reason: 'cost_cap', DeliveriesSkipped: 1, service: 'sender' });
});

it('flush with nothing buffered writes nothing (and no warning)', () => {
  const sink = new PowertoolsMetricsSink();
  sink.flush();
  expect(lines).toHaveLength(0);
});

it('the in-memory sink totals by name and dimensions', () => {
  const sink = new InMemoryMetricsSink();
  sink.count(MetricName.DeliveriesSkipped, 1, { reason: 'quota' });
  sink.count(MetricName.DeliveriesSkipped, 2, { reason: 'cost_cap' });
  sink.count(MetricName.MessagesSent);
  sink.count(MetricName.MessagesSent);
  expect(sink.total(MetricName.DeliveriesSkipped)).toBe(3);
  expect(sink.total(MetricName.DeliveriesSkipped, { reason: 'cost_cap' })).toBe(2);
  expect(sink.totals()).toEqual({
    'DeliveriesSkipped{reason=quota}': 1,
    'DeliveriesSkipped{reason=cost_cap}': 2,
    MessagesSent: 2,
  });
});

it('a send whose drafts were replaced counts DraftsReplaced once per discarded draft, by reason', () => {
  const sink = new InMemoryMetricsSink();
  countSendOutcome(sink, {
    outcome: 'sent',
    deliveryId: 'd',
    messageSid: 'SM1',
    segments: 1,
    fallback: true,
    usage: {
      openaiRequests: 3,
      tokens: 320,
      costUsd: 0.01,
      fallback: true,
      replaced: ['guard:alcohol', 'moderation_flagged'],
    },
  });
  expect(sink.totals()).toMatchObject({
    'DraftsReplaced{reason=guard:alcohol}': 1,
    'DraftsReplaced{reason=moderation_flagged}': 1,
    FallbackMessages: 1,
  });
});

it.each([
  [{ kind: 'opt_in', duplicate: false }, 1],
  [{ kind: 'opt_in', duplicate: true }, 0],
  // An opt-in received before the subscriber's latest opt-out changed nothing: not an opt-in.
  [{ kind: 'opt_in', duplicate: false, superseded: true }, 0],
] as const)('an inbound text %j counts %i opt-in', (result, optIns) => {
  const sink = new InMemoryMetricsSink();
  countInboundResult(sink, result);
  expect(sink.total(MetricName.OptIns)).toBe(optIns);
});
