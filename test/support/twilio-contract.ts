// Twilio's published OpenAPI description of its REST API (twilio_api_v2010.json, shipped in the npm package
// @twilio-alpha/mcp) as a test oracle: every request the adapters make is validated against it by
// openapi-backend (method, path template, server, auth scheme, parameter names, types and required ones), and
// the responses the adapters parse are generated from its schemas and documented examples.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { HttpResponse, http } from 'msw';
import {
  type Document,
  OpenAPIBackend,
  type Request as OpenApiRequest,
  type Operation,
} from 'openapi-backend';

const require = createRequire(import.meta.url);
const SPEC_DIR = '@twilio-alpha/mcp/twilio-oai/spec/json';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = {
  $ref?: string;
  type?: string;
  format?: string;
  nullable?: boolean;
  enum?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  additionalProperties?: boolean;
};
interface SpecDocument {
  openapi: string;
  info: { version: string; title: string };
  servers?: { url: string }[];
  security?: Record<string, string[]>[];
  paths: Record<string, Record<string, unknown> & { servers?: { url: string }[] }>;
  components: {
    schemas: Record<string, Schema>;
    securitySchemes?: Record<string, { type: string; scheme?: string }>;
  };
}

function readSpec(file: string): SpecDocument {
  return JSON.parse(readFileSync(require.resolve(`${SPEC_DIR}/${file}`), 'utf8')) as SpecDocument;
}

/** Which published spec the contract uses: the npm package version and the document's own. */
export const TWILIO_SPEC_SOURCE = (() => {
  const pkg = JSON.parse(readFileSync(require.resolve('@twilio-alpha/mcp/package.json'), 'utf8')) as {
    version: string;
  };
  const doc = readSpec('twilio_api_v2010.json');
  return `@twilio-alpha/mcp ${pkg.version}, twilio_api_v2010.json (OpenAPI ${doc.openapi}, info.version ${doc.info.version})`;
})();

/**
 * The 2010 API description lists only 2xx answers. Twilio's error body is the same across its REST APIs and
 * is described in its newer specs; Lookups v2 (same package) gives it as TwilioServiceErrorResponse.
 */
export function twilioErrorSchema(): Schema {
  const schema = readSpec('twilio_lookups_v2.json').components.schemas.TwilioServiceErrorResponse;
  if (!schema) throw new Error('TwilioServiceErrorResponse is missing from twilio_lookups_v2.json');
  return schema;
}

/**
 * Twilio ignores form parameters it does not know, so a misspelled optional parameter (`StatusCalback`) is
 * silently dropped in production. The published request schemas allow extra properties; the contract does
 * not: a name the spec does not list is a violation. (Query parameters are already closed by openapi-backend.)
 */
function closeFormBodies(doc: SpecDocument): void {
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item)) {
      const form = (op as { requestBody?: { content?: Record<string, { schema?: Schema }> } }).requestBody
        ?.content?.['application/x-www-form-urlencoded'];
      if (form?.schema?.properties) form.schema.additionalProperties = false;
    }
  }
}

interface ContractViolation {
  request: string;
  problems: string[];
}

export interface TwilioContract {
  readonly document: SpecDocument;
  /** Problems of one request as it went over the wire; empty when it is what the spec describes. */
  check(request: Request): Promise<{ operationId: string | null; problems: string[] }>;
  /**
   * msw handler for every Twilio API request: validated against the spec (violations are recorded and
   * answered with Twilio's 400 shape), then answered by `respond` for the matched operation.
   */
  handler(
    respond: (operationId: string, request: Request) => Response | Promise<Response>,
  ): ReturnType<typeof http.all>;
  readonly violations: ContractViolation[];
  /** The resolved schema of an operation's success answer. */
  responseSchema(operationId: string): Schema;
  /** The examples the spec documents for an operation's success answer, by name. */
  examples(operationId: string): Record<string, Json>;
  /** Validates a body against the operation's response schema (to prove generated variants are legal). */
  responseProblems(operationId: string, body: unknown, status?: number): string[];
}

function resolve(doc: SpecDocument, schema: Schema): Schema {
  let s = schema;
  while (s.$ref) {
    const name = s.$ref.replace('#/components/schemas/', '');
    const next = doc.components.schemas[name];
    if (!next) throw new Error(`unresolved ${s.$ref}`);
    s = next;
  }
  return s;
}

/** Form values are strings on the wire; read each as the type the spec gives its parameter. */
function formToSpecTypes(doc: SpecDocument, schema: Schema | undefined, form: URLSearchParams) {
  const out: Record<string, unknown> = {};
  for (const name of new Set(form.keys())) {
    const prop = schema?.properties?.[name] ? resolve(doc, schema.properties[name]) : undefined;
    const raw = form.getAll(name);
    const one = raw[raw.length - 1] ?? '';
    switch (prop?.type) {
      case 'array':
        out[name] = raw;
        break;
      case 'integer':
        out[name] = /^-?\d+$/.test(one) ? Number(one) : one;
        break;
      case 'number':
        out[name] = one.trim() !== '' && Number.isFinite(Number(one)) ? Number(one) : one;
        break;
      case 'boolean':
        out[name] = one === 'true' ? true : one === 'false' ? false : one;
        break;
      default:
        out[name] = raw.length > 1 ? raw : one;
    }
  }
  return out;
}

const E164 = /^\+[1-9]\d{1,14}$/;
/** Validators for the string formats the Messages operations use; Twilio's other formats stay unchecked. */
const FORMATS: Record<string, (v: string) => boolean> = {
  'phone-number': (v) => E164.test(v),
  // Twilio's own examples give relative URIs (next_page_uri: "/2010-04-01/…") under this format.
  uri: (v) => URL.canParse(v, 'https://api.twilio.com'),
  'date-time': (v) =>
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) &&
    !Number.isNaN(Date.parse(v)),
  'date-time-rfc-2822': (v) => !Number.isNaN(Date.parse(v)),
};

function describeError(e: { instancePath?: string; message?: string; params?: Record<string, unknown> }) {
  const extra = e.params?.additionalProperty ? ` (${String(e.params.additionalProperty)})` : '';
  return `${e.instancePath || '/'} ${e.message ?? 'invalid'}${extra}`;
}

function operationSecurity(doc: SpecDocument, op: Operation) {
  return (op.security as Record<string, string[]>[] | undefined) ?? doc.security ?? [];
}

/** Basic credentials as the spec's security scheme asks; the scheme is named accountSid_authToken. */
function authProblems(doc: SpecDocument, op: Operation, request: Request, accountSid: string | undefined) {
  const requirements = operationSecurity(doc, op);
  if (requirements.length === 0) return [];
  const failures: string[] = [];
  for (const requirement of requirements) {
    const problems: string[] = [];
    for (const name of Object.keys(requirement)) {
      const scheme = doc.components.securitySchemes?.[name];
      if (scheme?.type !== 'http' || scheme.scheme !== 'basic') {
        problems.push(
          `security scheme ${name} (${scheme?.type}/${scheme?.scheme}) is not checked by this contract`,
        );
        continue;
      }
      const header = request.headers.get('authorization') ?? '';
      const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
      const [user, ...rest] = match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8').split(':') : [];
      const password = rest.join(':');
      if (!user || !password) problems.push(`${name}: expected HTTP Basic credentials`);
      else if (name === 'accountSid_authToken' && accountSid && user !== accountSid)
        problems.push(`${name}: Basic user ${user} is not the path's AccountSid ${accountSid}`);
    }
    if (problems.length === 0) return [];
    failures.push(...problems);
  }
  return failures;
}

export async function createTwilioContract(): Promise<TwilioContract> {
  const document = readSpec('twilio_api_v2010.json');
  closeFormBodies(document);
  // quick: validators are compiled on first use, so only the operations the adapters call are compiled.
  const api = new OpenAPIBackend({
    definition: structuredClone(document) as unknown as Document,
    quick: true,
    ajvOpts: { strict: false, logger: false, allErrors: true },
    customizeAjv: (ajv) => {
      for (const [name, test] of Object.entries(FORMATS))
        ajv.addFormat(name, { type: 'string', validate: test });
      return ajv;
    },
  });
  await api.init();
  const violations: ContractViolation[] = [];

  const operationById = (operationId: string) => {
    const op = api.getOperation(operationId);
    if (!op) throw new Error(`no operation ${operationId} in the Twilio spec`);
    return op;
  };

  async function check(request: Request) {
    const url = new URL(request.url);
    const method = request.method.toLowerCase();
    const text = method === 'get' || method === 'head' ? '' : await request.clone().text();
    const contentType = request.headers.get('content-type')?.split(';')[0]?.trim() ?? null;
    const headers = Object.fromEntries(request.headers.entries());
    const shell: OpenApiRequest = { method, path: url.pathname, query: url.search.slice(1), headers };
    const op = api.matchOperation(shell);
    if (!op)
      return {
        operationId: null,
        problems: [`no operation in the spec for ${request.method} ${url.pathname}`],
      };
    const problems: string[] = [];

    const servers = (document.paths[op.path]?.servers ?? document.servers ?? []).map((s) => s.url);
    if (servers.length > 0 && !servers.includes(url.origin))
      problems.push(`server ${url.origin} is not one of ${servers.join(', ')}`);

    const declared = (op.requestBody as { content?: Record<string, { schema?: Schema }> } | undefined)
      ?.content;
    let body: unknown;
    if (declared) {
      if (!contentType || !(contentType in declared))
        problems.push(`content-type ${contentType} is not one of ${Object.keys(declared).join(', ')}`);
      else if (contentType === 'application/x-www-form-urlencoded')
        body = formToSpecTypes(document, declared[contentType]?.schema, new URLSearchParams(text));
    } else if (text !== '') problems.push(`${op.operationId} takes no request body`);

    const result = api.validateRequest({ ...shell, body }, op);
    for (const e of result.errors ?? []) problems.push(describeError(e));
    const accountSid = api.router.parseRequest(shell, op).params.AccountSid as string | undefined;
    problems.push(...authProblems(document, op, request, accountSid));
    return { operationId: op.operationId ?? null, problems };
  }

  return {
    document,
    violations,
    check,
    handler(respond) {
      return http.all('https://api.twilio.com/*', async ({ request }) => {
        const { operationId, problems } = await check(request);
        if (problems.length > 0 || !operationId) {
          violations.push({ request: `${request.method} ${new URL(request.url).pathname}`, problems });
          return HttpResponse.json(
            { code: 21000, message: problems.join('; '), more_info: 'contract violation', status: 400 },
            { status: 400 },
          );
        }
        return respond(operationId, request);
      });
    },
    responseSchema(operationId) {
      const op = operationById(operationId);
      const ok = Object.entries(op.responses ?? {}).find(([code]) => code.startsWith('2'));
      const schema = (ok?.[1] as { content?: Record<string, { schema?: Schema }> })?.content?.[
        'application/json'
      ]?.schema;
      if (!schema) throw new Error(`${operationId} documents no JSON success answer`);
      return resolve(document, schema);
    },
    examples(operationId) {
      const op = operationById(operationId);
      const ok = Object.entries(op.responses ?? {}).find(([code]) => code.startsWith('2'));
      const examples = (
        ok?.[1] as { content?: Record<string, { examples?: Record<string, { value: Json }> }> }
      )?.content?.['application/json']?.examples;
      return Object.fromEntries(Object.entries(examples ?? {}).map(([name, e]) => [name, e.value]));
    },
    responseProblems(operationId, body, status) {
      const op = operationById(operationId);
      const code = status ?? Number(Object.keys(op.responses ?? {}).find((c) => c.startsWith('2')) ?? '200');
      const result = api.validateResponse(body, op, code);
      return (result.errors ?? []).map(describeError);
    },
  };
}

/**
 * Every legal shape of one object schema, derived from a documented example: the example itself, each
 * nullable field null, each field absent (the spec requires none), and each enum value of each enum field.
 */
export function objectVariants(
  doc: SpecDocument,
  schema: Schema,
  base: Record<string, Json>,
): { name: string; body: Record<string, Json> }[] {
  const out: { name: string; body: Record<string, Json> }[] = [{ name: 'as documented', body: base }];
  const required = new Set(schema.required ?? []);
  for (const [field, raw] of Object.entries(schema.properties ?? {})) {
    const prop = resolve(doc, raw);
    if (raw.nullable || prop.nullable) out.push({ name: `${field}: null`, body: { ...base, [field]: null } });
    if (!required.has(field)) {
      const { [field]: _dropped, ...rest } = base;
      out.push({ name: `${field} absent`, body: rest });
    }
    for (const value of prop.enum ?? [])
      out.push({ name: `${field}: ${value}`, body: { ...base, [field]: value } });
  }
  return out;
}

export type { Json, Schema, SpecDocument };
