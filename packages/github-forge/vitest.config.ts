import { definePackageTests } from '../../vitest.shared.ts';

// The tests talk to real protocols on loopback: GitHub's REST API (a test endpoint with the routes
// the forge uses, through the real @octokit/rest client) and git (`git http-backend`), both started
// once by the test file.
export default definePackageTests({});
