import { definePackageTests } from '../vitest.shared.ts';

// The server image's test (build, podman, a second assembly: over a minute) as a project of its
// own, named to sort among the packages: vitest runs projects in name order, and in the repository
// project, which runs last, it would stretch the end of the test command by its whole length.
export default definePackageTests({ include: ['server-image.test.ts'], name: '@cairn/container-image' });
