import { expect, test } from 'vitest';
import { candidateCheckOutput } from './candidate-check-output.ts';

test("a candidate's check output is the log from the worker's marker on, with its verdict", () => {
  const log = 'edited calc.sh\n[check] output (its end):\nadd 2 3 gave 6\n[check] failed (exit 1)\n';
  expect(candidateCheckOutput(log)).toBe('add 2 3 gave 6\n[check] failed (exit 1)');
  // A tail that ended with its own newline leaves no blank line before the verdict.
  expect(candidateCheckOutput('[check] output (its end):\nadd 2 3 gave 6\n\n[check] failed (exit 1)\n')).toBe('add 2 3 gave 6\n[check] failed (exit 1)');
  // The agent's own output before it is not the check's, even when it mimics the verdict line.
  expect(candidateCheckOutput('[check] passed (exit 0)\nmy work\n[check] output (its end):\nok\n[check] passed (exit 0)\n')).toBe(
    'ok\n[check] passed (exit 0)',
  );
});

test('a silent check is its verdict line; a log without a check has none', () => {
  expect(candidateCheckOutput('done\n[check] passed (exit 0, score 3)\n')).toBe('[check] passed (exit 0, score 3)');
  expect(candidateCheckOutput('it failed before any check\n')).toBeNull();
});
