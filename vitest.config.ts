import { defineConfig } from 'vitest/config';

// Three projects: unit (pure, fast), integration (real Postgres, started by the global setup), infra (CDK).
export default defineConfig({
  test: {
    // Quiet JSON logs in test output unless asked for; tests that check logs capture them themselves.
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'SILENT' },
    // The JSON report lets .ci/run print one plain "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
    // Two test files at a time even on two cores (Vitest's default is cores − 1, so one): most files wait
    // on Postgres or a child process, not the CPU, and each worker has its own database (test/support/db.ts).
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // Property tests are CPU-bound (slots' 200 runs take ~2 s alone, over Vitest's 5 s default with two
          // workers on a loaded 2-core machine). Speed is the bench's business; a timeout here only guards hangs.
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/support/global-postgres.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
        },
      },
    ],
  },
});
