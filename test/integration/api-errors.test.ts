// Every /api error answer is {"error": "<words>", "code": "<code>"}, driven by the OpenAPI document: for each
// operation it describes, the error answers it documents for bad input, a missing or wrong token and the
// per-token budget are provoked, and each body must carry both fields, with a code the document lists.
import type { Hono } from 'hono';
import { type Document, OpenAPIBackend } from 'openapi-backend';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { useTestDb } from '../support/db.js';
import {
  API_TOKEN,
  CountingLimiter,
  RecordingScheduler,
  RecordingSms,
  testConfig,
} from '../support/webhook-doubles.js';

const t = useTestDb();
const AUTH = { authorization: `Bearer ${API_TOKEN}` };

/** A value each kind of path parameter accepts, and one it refuses. */
const PARAMS: Record<string, { valid: string; invalid: string }> = {
  phone: { valid: '%2B12125550123', invalid: 'not-a-phone' },
  id: { valid: '00000000-0000-4000-8000-000000000000', invalid: 'not-a-uuid' },
};

interface Operation {
  method: string;
  path: string;
  operationId: string;
  hasBody: boolean;
  documented: string[];
}

let doc: Document;
let spec: OpenAPIBackend;
let operations: Operation[];

const appWith = (limiter?: CountingLimiter): Hono =>
  createApp({
    config: testConfig(),
    db: t.db(),
    sms: new RecordingSms(),
    scheduler: new RecordingScheduler(),
    limiter,
  });

beforeEach(async () => {
  if (spec) return;
  const served = await appWith().request('/api/openapi.json');
  doc = (await served.json()) as Document;
  spec = new OpenAPIBackend({ definition: doc, strict: true, quick: false });
  await spec.init();
  operations = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(item ?? {})
      .filter(([, op]) => typeof op === 'object' && op !== null && 'security' in op)
      .map(([method, op]) => {
        const o = op as { operationId: string; requestBody?: unknown; responses: Record<string, unknown> };
        return {
          method: method.toUpperCase(),
          path,
          operationId: o.operationId,
          hasBody: o.requestBody !== undefined,
          documented: Object.keys(o.responses),
        };
      }),
  );
});

const concrete = (path: string, kind: 'valid' | 'invalid') =>
  path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const values = PARAMS[name];
    if (!values) throw new Error(`no test value for the path parameter ${name}`);
    return values[kind];
  });

/** The codes the document's Error schema allows, and whether it requires one. */
function documentedErrorShape() {
  const schema = (doc.components?.schemas?.Error ?? {}) as {
    required?: string[];
    properties?: { code?: { enum?: string[] } };
  };
  return { required: schema.required ?? [], codes: schema.properties?.code?.enum ?? [] };
}

async function send(
  app: Hono,
  op: Operation,
  path: string,
  init: { headers?: Record<string, string>; body?: unknown },
) {
  const headers = {
    ...init.headers,
    ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
  };
  const res = await app.request(path, {
    method: op.method,
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const body = (await res.json()) as Record<string, unknown>;
  const url = new URL(path, 'http://x');
  const matched = spec.matchOperation({ method: op.method, path: url.pathname, query: {}, headers });
  expect(matched?.operationId, `${op.method} ${url.pathname}`).toBe(op.operationId);
  if (matched) {
    const checked = spec.validateResponse(body, matched, res.status);
    expect(checked.errors ?? [], `${op.method} ${path} → ${res.status} matches the document`).toEqual([]);
  }
  return { status: res.status, body };
}

function expectError(
  answer: { status: number; body: Record<string, unknown> },
  status: number,
  code: string,
) {
  expect(answer.status).toBe(status);
  expect(answer.body).toEqual({ error: expect.any(String), code });
  expect(documentedErrorShape().codes).toContain(code);
}

describe('the error shape in the OpenAPI document', () => {
  it('requires error and code, and lists the codes', () => {
    const { required, codes } = documentedErrorShape();
    expect(required).toEqual(expect.arrayContaining(['error', 'code']));
    expect(codes).toEqual(
      expect.arrayContaining([
        'bad_input',
        'unauthorized',
        'not_found',
        'conflict',
        'rate_limited',
        'no_route',
      ]),
    );
  });

  it('describes every guarded operation with 400, 401, 429 and 503 answers', () => {
    expect(operations.length).toBeGreaterThanOrEqual(10);
    for (const op of operations)
      expect(op.documented, op.operationId).toEqual(expect.arrayContaining(['400', '401', '429', '503']));
  });
});

describe('every /api operation answers its documented errors with error and code', () => {
  it('bad input → 400 bad_input', async () => {
    const app = appWith();
    for (const op of operations) {
      const hasParams = op.path.includes('{');
      // A bad path parameter where there is one; otherwise a field no schema has (all are strict).
      const path = hasParams ? concrete(op.path, 'invalid') : op.hasBody ? op.path : `${op.path}?bogus=1`;
      const answer = await send(app, op, path, {
        headers: AUTH,
        body: op.hasBody ? { bogus: 1 } : undefined,
      });
      expectError(answer, 400, 'bad_input');
    }
  });

  it('no token or a wrong one → 401 unauthorized', async () => {
    const app = appWith();
    for (const op of operations) {
      const path = concrete(op.path, 'valid');
      expectError(await send(app, op, path, {}), 401, 'unauthorized');
      const wrong = { authorization: 'Bearer wrong-token-0123456789abcdef' };
      expectError(await send(app, op, path, { headers: wrong }), 401, 'unauthorized');
    }
  });

  it('over the per-token budget → 429 rate_limited', async () => {
    const app = appWith(new CountingLimiter(0));
    for (const op of operations)
      expectError(await send(app, op, concrete(op.path, 'valid'), { headers: AUTH }), 429, 'rate_limited');
  });
});

describe('answers outside the operations', () => {
  const request = (path: string, init: RequestInit = {}) =>
    appWith().request(path, { ...init, headers: { ...AUTH, ...(init.headers as Record<string, string>) } });

  it.each([
    { what: 'an unknown /api route', path: '/api/nothing', init: {}, status: 404, code: 'no_route' },
    {
      what: 'a method a route does not take',
      path: '/api/usage',
      init: { method: 'DELETE' },
      status: 405,
      code: 'no_route',
    },
    {
      what: 'a body that is not JSON',
      path: '/api/subscribers',
      init: { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } },
      status: 415,
      code: 'bad_input',
    },
    {
      what: 'a body over 64 kB',
      path: '/api/subscribers',
      init: { method: 'POST', body: 'x'.repeat(70_000), headers: { 'content-type': 'application/json' } },
      status: 413,
      code: 'bad_input',
    },
  ])('$what → $status $code', async ({ path, init, status, code }) => {
    const res = await request(path, init as RequestInit);
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ error: expect.any(String), code });
  });
});
