// Bounded loopback load with autocannon: a fixed duration against 127.0.0.1 only.
import autocannon from 'autocannon';

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  total: number;
  non2xx: number;
  errors: number;
}

export async function runLoad(options: {
  url: string;
  seconds: number;
  connections: number;
  /** Builds each request; called once per request. */
  request: () => { method: 'POST' | 'GET'; path: string; headers: Record<string, string>; body?: string };
}): Promise<LoadResult> {
  const target = new URL(options.url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname))
    throw new Error('load only on loopback');
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    requests: [
      {
        setupRequest: (req) => {
          const next = options.request();
          return { ...req, method: next.method, path: next.path, headers: next.headers, body: next.body };
        },
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}
