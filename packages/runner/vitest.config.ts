import { definePackageTests } from '../../vitest.shared.ts';

// The executor's tests drive simulated runners in-process: polls and exits are method calls, the
// HTTP routes that carry them live in the server.
export default definePackageTests({});
