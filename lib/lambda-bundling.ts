// The one definition of how a Lambda entry point is bundled, shared by the CDK stack (NodejsFunction) and
// scripts/bundle.ts, so the bundle measured locally is the bundle that is deployed.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every Lambda the stack deploys, by name, with its entry file (each exports `handler`). */
export const LAMBDA_ENTRIES = {
  webhooks: 'src/handlers/webhooks.ts',
  planner: 'src/handlers/planner.ts',
  sender: 'src/handlers/sender.ts',
  migrate: 'src/handlers/migrate.ts',
  cleanup: 'src/handlers/cleanup.ts',
  reconcile: 'src/handlers/reconcile.ts',
  'daily-report': 'src/handlers/daily-report.ts',
} as const;
export type LambdaName = keyof typeof LAMBDA_ENTRIES;

export const entryPath = (name: LambdaName) => path.join(PROJECT_ROOT, LAMBDA_ENTRIES[name]);

/**
 * ESM bundles still meet CommonJS dependencies (twilio, pg) that call `require` for Node built-ins;
 * esbuild's ESM output has no `require`, so the bundle creates one.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

export const BUNDLE_OPTIONS = {
  format: 'esm',
  platform: 'node',
  target: 'node22',
  minify: true,
  /**
   * Prefer packages' ESM builds so esbuild can drop unused exports: without 'module' each bundle grows by
   * ≈ 145 KiB (measured). `conditions: ['module']` and `legalComments: 'none'` were measured too and change
   * nothing worth having (0 and 0.2 KiB). Sizes and import times: `npm run measure:bundles`.
   */
  mainFields: ['module', 'main'],
  banner: ESM_REQUIRE_BANNER,
  /**
   * pg-native is pg's optional native binding, required only when NODE_PG_FORCE_NATIVE is set.
   * The AWS SDK is bundled rather than taken from the runtime, so the version that runs is the one
   * in package-lock.json that the tests ran against.
   * ioredis serves only the rate limiter's Redis store, which no deployed Lambda can choose: the stack never
   * gives one REDIS_URL or RATE_LIMIT_STORE=redis (test/infra/bundling.test.ts), so its Postgres store
   * answers and the Redis store's `await import('ioredis')` is never reached. Left out, ioredis and its
   * command table no longer weigh ≈ 170 KB in the webhooks and sender bundles.
   */
  external: ['pg-native', 'ioredis'],
} as const;
