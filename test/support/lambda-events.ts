// Events as AWS delivers them to our Lambdas.

/** An API Gateway HTTP API payload v2 event, as the webhooks Lambda receives it. */
export function httpApiEvent(
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string>; base64?: boolean } = {},
) {
  const body =
    options.body === undefined
      ? undefined
      : options.base64
        ? Buffer.from(options.body).toString('base64')
        : options.body;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'abc123.execute-api.us-east-1.amazonaws.com', ...options.headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      authentication: null,
      authorizer: {},
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'TwilioProxy/1.1' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '25/Nov/2026:12:00:00 +0000',
      timeEpoch: 1_795_000_000_000,
    },
    body: body ?? null,
    isBase64Encoded: options.base64 ?? false,
  };
}

export const lambdaContext = { awsRequestId: 'req-1', functionName: 'webhooks' } as never;

/** A webhooks invocation that has `remainingMs` left when the request arrives, counting down from then. */
export function webhooksInvocation(remainingMs: number): never {
  const end = Date.now() + remainingMs;
  return {
    awsRequestId: 'req-1',
    functionName: 'webhooks',
    getRemainingTimeInMillis: () => end - Date.now(),
  } as never;
}
