import { definePackageTests } from '../../vitest.shared.ts';

// Browser tests: a real server per test, Debian's Chromium driven by playwright-core. Each test
// opens pages and waits for live updates, so they get more time than a unit test.
export default definePackageTests({ testTimeout: 90_000, hookTimeout: 60_000 });
