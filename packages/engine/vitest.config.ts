import { definePackageTests } from '../../vitest.shared.ts';

// The PostgreSQL state store's tests run against a real PostgreSQL (scripts/postgres.sh), started once per test run.
export default definePackageTests({ globalSetup: ['src/store/postgres/postgres.global-setup.ts'] });
