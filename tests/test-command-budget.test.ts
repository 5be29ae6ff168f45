// The README's test command (`bash scripts/test.sh`, which CI runs once in a fresh clone) has a
// budget: 35 minutes from its start to its end on the 2-core machine (README.md says what it assumes).
//
// What "the last run" is: a vitest run cannot know its own duration while it runs, and in CI there
// is no earlier run to read. So scripts/test.sh measures every step (setup, format, type-check,
// lint, the test servers, the worker bundle and image, the whole vitest run), writes them to
// `.test-durations.json` (git-ignored), and then runs THIS file as its last step, outside the main
// vitest run (`--exclude`). In CI, the run checked is therefore the run in progress, up to this
// check; only this file and the summary line come after it (seconds). Run alone (`pnpm exec vitest
// run tests/test-command-budget.test.ts`), it checks the last test command run in this checkout,
// and is skipped when there has been none: the test command always records before it runs this.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { repositoryRoot } from './support/workspace.ts';

const budgetSeconds = 35 * 60;

/** What scripts/test.sh writes to `.test-durations.json` once its other steps are done. */
interface TestCommandRecord {
  readonly startedAt: string;
  /** From the start of scripts/test.sh to the end of its last step before this check. */
  readonly seconds: number;
  readonly cpus: number;
  /** What scripts/test-under-load.sh ran beside the command (a CPU hog per core); empty when quiet. */
  readonly load?: string;
  readonly steps: readonly { readonly name: string; readonly seconds: number }[];
}

/** Set by scripts/test.sh: the record of the run in progress, which must then exist. */
const recordPath = process.env.CAIRN_TEST_COMMAND_RECORD ?? join(repositoryRoot, '.test-durations.json');
const required = process.env.CAIRN_TEST_COMMAND_RECORD !== undefined;

/** The slowest test files of vitest's JSON report (test.sh writes it), to say where the time went. */
function slowestTestFiles(count: number): string[] {
  const reportPath = join(repositoryRoot, '.vitest-results.json');
  if (!existsSync(reportPath)) return [];
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { testResults: { name: string; startTime: number; endTime: number }[] };
  return report.testResults
    .map((file) => ({ name: relative(repositoryRoot, file.name), seconds: Math.round((file.endTime - file.startTime) / 1000) }))
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, count)
    .map((file) => `${file.seconds} s  ${file.name}`);
}

function readRecord(): TestCommandRecord | undefined {
  return existsSync(recordPath) ? (JSON.parse(readFileSync(recordPath, 'utf8')) as TestCommandRecord) : undefined;
}

/** The budget is for a quiet machine: a run beside a deliberate CPU hog is not measured against it. */
const underLoad = (readRecord()?.load ?? '') !== '';

describe('the test command budget', () => {
  // Under scripts/test-under-load.sh the check is reported as skipped (never as passed), and says why.
  const title = `the last run of bash scripts/test.sh took at most ${budgetSeconds / 60} minutes`;
  test.skipIf((!required && !existsSync(recordPath)) || underLoad)(underLoad ? `${title} (not checked: run beside ${readRecord()?.load})` : title, () => {
    expect(existsSync(recordPath), `${recordPath} is missing: scripts/test.sh writes it before it runs this check`).toBe(true);
    const record = readRecord()!;
    expect(record.steps.length).toBeGreaterThan(0);
    const steps = [...record.steps].sort((a, b) => b.seconds - a.seconds).map((step) => `${step.seconds} s  ${step.name}`);
    const files = slowestTestFiles(15);
    const why = [
      `the test command started ${record.startedAt} on ${record.cpus} CPUs took ${record.seconds} s, over its budget of ${budgetSeconds} s.`,
      'Its steps, slowest first:',
      ...steps,
      ...(files.length > 0 ? ['The slowest test files:', ...files] : []),
    ].join('\n');
    expect(record.seconds, why).toBeLessThanOrEqual(budgetSeconds);
  });

  test('scripts/test.sh records its steps and runs this check as its last step, outside the main vitest run', () => {
    const script = readFileSync(join(repositoryRoot, 'scripts/test.sh'), 'utf8');
    const mainRun = script.search(/pnpm exec vitest run .*--exclude '\*\*\/test-command-budget\.test\.ts'/);
    const recorded = script.indexOf('>"$durations_file"');
    const check = script.indexOf('CAIRN_TEST_COMMAND_RECORD="$durations_file" pnpm exec vitest run tests/test-command-budget.test.ts');
    expect([mainRun, recorded, check].map((index) => index >= 0)).toEqual([true, true, true]);
    expect(mainRun).toBeLessThan(recorded);
    expect(recorded).toBeLessThan(check);
    expect(script.slice(check)).not.toMatch(/^step /m);
  });
});
