import { definePackageTests } from '../../vitest.shared.ts';

// The template is synthesised in memory and checked with aws-cdk-lib's assertions; nothing reaches AWS.
export default definePackageTests({ testTimeout: 60_000, hookTimeout: 120_000 });
