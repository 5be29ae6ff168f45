// Prints the one line CI reads, "N passed, N failed[, N skipped]", from vitest's JSON report.
// Repository checks that are not vitest tests (type-check, package lint) count as failed tests
// when they fail, so a red check can never hide behind green tests.
import { existsSync, readFileSync } from 'node:fs';

const [resultsPath, failedChecksArgument = '0'] = process.argv.slice(2);
const failedChecks = Number(failedChecksArgument);

let passed = 0;
let failed = failedChecks;
let skipped = 0;
if (resultsPath && existsSync(resultsPath)) {
  const report = JSON.parse(readFileSync(resultsPath, 'utf8'));
  passed = report.numPassedTests;
  failed += report.numFailedTests;
  skipped = report.numPendingTests + report.numTodoTests;
  // A suite that fails to load has no failed tests but is still a failure.
  failed += report.testResults.filter((file) => file.status === 'failed' && file.assertionResults.length === 0).length;
} else {
  console.error(`no test report at ${resultsPath}: the test run did not complete`);
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
