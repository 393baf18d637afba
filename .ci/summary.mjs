// Prints vitest's totals as one plain line, "tests: N passed, N failed, N skipped", and exits non-zero when
// the report holds a failure, whatever exit code the test process ended with.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2] ?? 'test-results/vitest.json', 'utf8'));
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
if (report.numFailedTests > 0 || report.success === false) process.exitCode = 1;
