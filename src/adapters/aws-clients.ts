// How every AWS SDK client here talks to AWS: within a bound. The SDK's default Node HTTP handler sets no
// connection timeout and no request timeout (and its requestTimeout, when set, only logs a warning unless
// told to throw), so a half-open connection holds a call until the Lambda is stopped. Each client is built
// from its call's bound (src/domain/call-budgets.ts): a connect timeout, an attempt timeout that throws, its
// attempts, and a deadline on the whole call — retries and their back-off (which a Retry-After can stretch)
// included — that aborts the request in flight.
import type { CallBound } from '../domain/call-budgets.js';

/** The SDK client configuration for `bound`: the per-attempt part of it. */
export function awsClientConfig(bound: CallBound) {
  return {
    maxAttempts: bound.attempts,
    requestHandler: {
      connectionTimeout: bound.connectMs,
      requestTimeout: bound.attemptMs,
      throwOnRequestTimeout: true,
      // A body that stops arriving after its headers (the request timeout ends at the headers).
      socketTimeout: bound.attemptMs,
    },
  };
}

/** What every SDK v3 client has: `send(command, options)`, options taking an AbortSignal. */
interface SdkClient {
  send(command: never, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

/**
 * Gives every call of `client` an AbortSignal that fires `totalMs` after the call starts (unless the caller
 * passes its own): the SDK aborts the attempt in flight and does not sleep past it, so the call rejects by
 * then, with an AbortError. Also for calls made by a library (Powertools Parameters) that passes no options.
 */
function limitEachCall<C extends SdkClient>(client: C, totalMs: number): C {
  // The class's send, looked up at each call (a test double may replace it after the client was built).
  const classSend = () =>
    (Object.getPrototypeOf(client) as { send: (command: unknown, options?: object) => Promise<unknown> })
      .send;
  const bounded = (command: unknown, options?: object) =>
    classSend().call(client, command, { abortSignal: AbortSignal.timeout(totalMs), ...options });
  client.send = bounded as C['send'];
  return client;
}

/** A client built with `bound`, every call limited to its total. */
export function boundedAwsClient<C extends SdkClient>(
  Client: new (config: ReturnType<typeof awsClientConfig>) => C,
  bound: CallBound,
): C {
  return limitEachCall(new Client(awsClientConfig(bound)), bound.totalMs);
}
