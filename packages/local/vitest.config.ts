import { definePackageTests } from '../../vitest.shared.ts';

// Executions' supervisors start from one bundle of the current sources, made once per test run.
export default definePackageTests({ globalSetup: ['src/testing/supervisor-bundle.test-support.ts'] });
