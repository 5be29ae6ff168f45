import { definePackageTests } from '../vitest.shared.ts';

// The benchmarks' measuring instruments (the statement and fsync counters, the BullMQ peer on its
// redis-server): a count that is wrong would print a plausible row, so they are tested as code.
export default definePackageTests({ include: ['test/**/*.test.ts'], name: 'bench', testTimeout: 60_000 });
