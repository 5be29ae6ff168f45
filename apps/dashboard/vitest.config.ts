import { definePackageTests } from '../../vitest.shared.ts';

// Browser tests: a real server per test, Debian's Chromium driven by playwright-core. Each test
// opens pages and waits for live updates, so they get more time than a unit test. A page that
// reloads on a loaded machine (CI, two cores) may take more than `expect.poll`'s default second to
// show what a test waits for: polls wait up to 15 s unless a test says otherwise. The servers'
// supervisors start from one bundle of the current sources, made once per test run.
export default definePackageTests({
  testTimeout: 90_000,
  hookTimeout: 60_000,
  expect: { poll: { timeout: 15_000 } },
  globalSetup: ['../../packages/local/src/testing/supervisor-bundle.test-support.ts'],
});
