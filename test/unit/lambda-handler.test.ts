// The one Lambda wrapper: every log line of an invocation carries its request id, keys appended during one
// invocation do not leak into the next, and counted metrics are flushed once, also when the body throws.
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, vi } from 'vitest';

// The shared logger takes its level from LOG_LEVEL when first imported (tests run SILENT): import afresh.
let modules: {
  sender: typeof import('../../src/handlers/sender.js');
  lambda: typeof import('../../src/handlers/lambda.js');
  log: typeof import('../../src/logger.js');
  metrics: typeof import('../../src/metrics.js');
};
beforeAll(async () => {
  vi.stubEnv('LOG_LEVEL', 'INFO');
  vi.resetModules();
  modules = {
    sender: await import('../../src/handlers/sender.js'),
    lambda: await import('../../src/handlers/lambda.js'),
    log: await import('../../src/logger.js'),
    metrics: await import('../../src/metrics.js'),
  };
});
afterAll(() => vi.unstubAllEnvs());

let lines: string[] = [];
beforeEach(() => {
  lines = [];
  const capture = (chunk: unknown) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture as never);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture as never);
});
afterEach(() => vi.restoreAllMocks());
const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

const context = (awsRequestId: string): Partial<Context> => ({
  awsRequestId,
  functionName: 'daily-positivity-sender',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:daily-positivity-sender',
  memoryLimitInMB: '512',
});

it('puts the Lambda request id on every log line of the invocation', async () => {
  const handler = modules.sender.createSenderHandler(async () => {
    throw new Error('a malformed event must not build dependencies');
  });

  await handler({ deliveryId: 'nope' }, context('6f1c1d7e-request-one'));
  await handler({}, context('0a9b8c7d-request-two'));

  const rejected = records().filter((r) => r.message === 'rejected a malformed sender event');
  expect(rejected.map((r) => r.function_request_id)).toEqual([
    '6f1c1d7e-request-one',
    '0a9b8c7d-request-two',
  ]);
  expect(rejected[0]).toMatchObject({ function_name: 'daily-positivity-sender', level: 'ERROR' });
});

it('clears keys an invocation appended before the next one starts', async () => {
  const handler = modules.lambda.lambdaHandler(async (event) => {
    const { deliveryId } = event as { deliveryId?: string };
    if (deliveryId) modules.log.appendCorrelationKeys({ deliveryId });
    modules.log.logger.info('working');
  });

  await handler({ deliveryId: 'd-1' }, context('r-1'));
  await handler({}, context('r-2'));

  const [first, second] = records();
  expect(first).toMatchObject({ deliveryId: 'd-1', function_request_id: 'r-1' });
  expect(second?.function_request_id).toBe('r-2');
  expect(second).not.toHaveProperty('deliveryId');
});

it('flushes counted metrics once per invocation, also when the body throws', async () => {
  const metrics = new modules.metrics.PowertoolsMetricsSink({ serviceName: 'sender' });
  const handler = modules.lambda.lambdaHandler(async () => {
    metrics.count('MessagesFailed');
    throw new Error('boom');
  }, metrics);

  await expect(handler({}, context('r-3'))).rejects.toThrow('boom');

  const emf = records().filter((r) => r._aws);
  expect(emf).toHaveLength(1);
  expect(emf[0]).toMatchObject({ MessagesFailed: 1, service: 'sender' });
});
