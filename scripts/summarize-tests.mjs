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
  // A file that failed outside its tests (it did not load, or a beforeAll hook threw and its
  // tests were skipped) has no failed test but is still a failure: one, with its tests skipped.
  failed += report.testResults.filter((file) => file.status === 'failed' && !file.assertionResults.some((test) => test.status === 'failed')).length;
} else {
  console.error(`no test report at ${resultsPath}: the test run did not complete`);
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
