import type { RunSpecV1 } from '@cairn/core';

/**
 * A worked run spec for a model to start from: two commands over the workspace, the second
 * applying the first one's patch. Served as `cairn://examples/run-spec`; a test submits it to a
 * real server, so it stays valid.
 */
export const runSpecExample: RunSpecV1 = {
  version: 1,
  name: 'count-then-report',
  items: [
    {
      id: 'count',
      description: "Count the lines of every text file into counts.txt (a change to the workspace: it becomes this item's patch).",
      runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'wc -l *.txt > counts.txt'] },
      timeout: '5m',
    },
    {
      id: 'report',
      description: 'Start from the workspace plus the patch of count, and sort its counts into REPORT.txt.',
      needs: { counted: { from: 'count', select: 'patch' } },
      apply: ['counted'],
      runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'sort -n counts.txt > REPORT.txt'] },
      timeout: '5m',
    },
  ],
};
