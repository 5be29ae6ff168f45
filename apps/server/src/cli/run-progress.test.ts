// Live progress: the one line a terminal redraws (bar and counts by state), and the plain lines a
// pipe gets instead, one per item state change.
import type { ItemState } from '@cairn/core';
import { expect, test } from 'vitest';
import { failureLines, renderProgressLine, RunProgress } from './run-progress.ts';

const states = (entries: [string, ItemState][]) => new Map(entries);

test('the line: a bar of finished items over all, then the count of each state present, in lifecycle order', () => {
  expect(renderProgressLine(states([]))).toBe('[....................] 0/0 done');
  expect(
    renderProgressLine(
      states([
        ['a', 'succeeded'],
        ['b', 'running'],
        ['c', 'blocked'],
        ['d', 'failed'],
        ['e', 'ready'],
      ]),
      10,
    ),
  ).toBe('[####......] 2/5 done  blocked 1 · ready 1 · running 1 · succeeded 1 · failed 1');
  const twenty = states(Array.from({ length: 20 }, (_, index): [string, ItemState] => [`i${index}`, index < 12 ? 'succeeded' : 'awaiting-approval']));
  expect(renderProgressLine(twenty, 10)).toBe('[######....] 12/20 done  awaiting-approval 8 · succeeded 12');
  expect(
    renderProgressLine(
      states([
        ['a', 'skipped'],
        ['b', 'cancelled'],
      ]),
      4,
    ),
  ).toBe('[####] 2/2 done  skipped 1 · cancelled 1');
});

test('on a terminal one line is redrawn in place, notes go above it, and done moves past it', () => {
  const written: string[] = [];
  const progress = new RunProgress(
    [
      { itemId: 'a', state: 'ready' },
      { itemId: 'b', state: 'blocked' },
    ],
    { isTTY: true, write: (text: string) => written.push(text) },
  );
  progress.onEvent({ type: 'item.state', id: 1, time: '', runId: 'r', itemId: 'a', state: 'running' });
  progress.onEvent({ type: 'run.state', id: 2, time: '', runId: 'r', state: 'running' });
  progress.onEvent({ type: 'item.state', id: 3, time: '', runId: 'r', itemId: 'a', state: 'running' });
  progress.note('approved b');
  progress.update('a', 'succeeded');
  progress.done();
  expect(written).toEqual([
    '\r\x1b[2K[....................] 0/2 done  blocked 1 · ready 1',
    '\r\x1b[2K[....................] 0/2 done  blocked 1 · running 1',
    '\r\x1b[2Kapproved b\n',
    '\r\x1b[2K[....................] 0/2 done  blocked 1 · running 1',
    '\r\x1b[2K[##########..........] 1/2 done  blocked 1 · succeeded 1',
    '\n',
  ]);
});

test('a line wider than the terminal is cut short of its last column, so redrawing never wraps', () => {
  const written: string[] = [];
  new RunProgress([{ itemId: 'a', state: 'running' }], { isTTY: true, columns: 12, write: (text: string) => written.push(text) });
  expect(written).toEqual(['\r\x1b[2K[..........']);
});

test('anywhere else, one plain line per item state change (repeats and run events write nothing)', () => {
  const written: string[] = [];
  const progress = new RunProgress(
    [
      { itemId: 'edit-alpha', state: 'ready' },
      { itemId: 'verify', state: 'blocked' },
    ],
    { write: (text: string) => written.push(text) },
  );
  progress.update('edit-alpha', 'ready');
  progress.update('edit-alpha', 'running');
  progress.onEvent({ type: 'run.state', id: 1, time: '', runId: 'r', state: 'running' });
  progress.update('edit-alpha', 'succeeded');
  progress.note('(approved)');
  progress.done();
  expect(written.join('')).toBe('  edit-alpha       running           0/2 done\n  edit-alpha       succeeded         1/2 done\n(approved)\n');
});

test('plain lines: ids over 16 characters, and longer ones a planner adds, do not push the states out of line', () => {
  const written: string[] = [];
  const progress = new RunProgress(
    [
      { itemId: 'build-the-whole-workspace', state: 'ready' },
      { itemId: 'plan', state: 'running' },
    ],
    { write: (text: string) => written.push(text) },
  );
  progress.update('build-the-whole-workspace', 'running');
  progress.update('plan', 'succeeded');
  expect(written).toEqual(['  build-the-whole-workspace running           0/2 done\n', '  plan                      succeeded         1/2 done\n']);
  // A planner's item longer than any so far widens the column from then on.
  progress.update('plan/an-item-the-planner-added-later', 'running');
  progress.update('build-the-whole-workspace', 'succeeded');
  expect(written.slice(2)).toEqual([
    '  build-the-whole-workspace            succeeded         2/3 done, 1 more added\n',
    '  plan/an-item-the-planner-added-later running           2/3 done\n',
  ]);
});

test('a growing run: the done count never goes back, growth is said as items added, and a planner ends before the items it added', () => {
  const plain: string[] = [];
  const terminal: string[] = [];
  const start = [
    { itemId: 'plan', state: 'running' as const },
    { itemId: 'report', state: 'blocked' as const },
  ];
  const plainProgress = new RunProgress(start, { write: (text: string) => plain.push(text) });
  const terminalProgress = new RunProgress(start, { isTTY: true, write: (text: string) => terminal.push(text) });
  // As the engine sends them: the planner's items first, then its end, then a forEach's items.
  const events: [string, ItemState][] = [
    ['task-1', 'ready'],
    ['task-2', 'ready'],
    ['task-3', 'ready'],
    ['plan', 'succeeded'],
    ['task-1', 'running'],
    ['task-1', 'succeeded'],
    ['task-2', 'succeeded'],
    ['fan/0', 'ready'],
    ['fan/1', 'ready'],
    ['fan/0', 'succeeded'],
  ];
  for (const [itemId, state] of events) {
    plainProgress.update(itemId, state);
    terminalProgress.update(itemId, state);
  }
  plainProgress.done();
  const counts = plain.map((line) => / (\d+)\/(\d+) done/.exec(line)!.slice(1).map(Number));
  // Never back: each line's done count is at least the one before.
  for (const [index, [done]] of counts.entries()) expect(done).toBeGreaterThanOrEqual(index === 0 ? 0 : counts[index - 1]![0]!);
  expect(plain).toEqual([
    '  plan             succeeded         1/5 done, 3 more added\n',
    '  task-1           ready             1/5 done\n',
    '  task-2           ready             1/5 done\n',
    '  task-3           ready             1/5 done\n',
    '  task-1           running           1/5 done\n',
    '  task-1           succeeded         2/5 done\n',
    '  task-2           succeeded         3/5 done\n',
    '  fan/0            ready             3/7 done, 2 more added\n',
    '  fan/1            ready             3/7 done\n',
    '  fan/0            succeeded         4/7 done\n',
  ]);
  expect(terminal.at(-1)).toBe('\r\x1b[2K[###########.........] 4/7 done, 5 added  blocked 1 · ready 2 · succeeded 4');
});

test('following a run already under way: states replayed from before the watch began never take a finished item back', () => {
  const written: string[] = [];
  const progress = new RunProgress(
    [
      { itemId: 'a', state: 'succeeded' },
      { itemId: 'b', state: 'running' },
    ],
    { write: (text: string) => written.push(text) },
  );
  // The stream starts at the run's first event: a's whole life again, then b's end.
  for (const state of ['ready', 'running', 'succeeded'] as const) progress.update('a', state);
  progress.update('b', 'succeeded');
  expect(written).toEqual(['  b                succeeded         2/2 done\n']);
});

test('a failed item: its plain progress line ends with the code and rule, and failureLines says why on one line, with the end of its stderr, no control characters', () => {
  const written: string[] = [];
  const progress = new RunProgress([{ itemId: 'escape', state: 'running' }], { write: (text: string) => written.push(text) });
  progress.onEvent({
    type: 'item.state',
    id: 1,
    time: '',
    runId: 'r',
    itemId: 'escape',
    state: 'failed',
    failure: { code: 'CAIRN_PAYLOAD_INVALID', rule: 'symlink-escape' },
  });
  expect(written).toEqual([`  ${'escape'.padEnd(16)} ${'failed'.padEnd(17)} 1/1 done  CAIRN_PAYLOAD_INVALID (rule symlink-escape)\n`]);

  const lines = failureLines([
    { itemId: 'ok', state: 'succeeded', failure: null },
    { itemId: 'retrying', state: 'ready', failure: { code: 'CAIRN_EXIT_NONZERO', message: 'once', exitCode: 1, signal: null, stderrTail: '' } },
    {
      itemId: 'build',
      state: 'failed',
      failure: {
        code: 'CAIRN_EXIT_NONZERO',
        message: 'The runtime exited with code 2;\nsee below.',
        exitCode: 2,
        signal: null,
        stderrTail: 'one\ntwo\nthree\nfour\nfive\nsix \x1b[31mred\x1b[0m\n',
      },
    },
    { itemId: 'oom', state: 'failed', failure: { code: 'CAIRN_ATTEMPT_KILLED', message: 'Killed.', exitCode: null, signal: 'SIGKILL', stderrTail: '' } },
    {
      itemId: 'escape',
      state: 'failed',
      failure: { code: 'CAIRN_PAYLOAD_INVALID', message: 'Refused.', exitCode: 0, signal: null, rule: 'symlink-escape', stderrTail: '' },
    },
  ]);
  expect(lines).toEqual([
    'build failed: CAIRN_EXIT_NONZERO The runtime exited with code 2; (exit 2)',
    '    see below.',
    '    | two',
    '    | three',
    '    | four',
    '    | five',
    '    | six [31mred[0m',
    'oom failed: CAIRN_ATTEMPT_KILLED Killed. (signal SIGKILL)',
    'escape failed: CAIRN_PAYLOAD_INVALID Refused. (exit 0; rule symlink-escape)',
  ]);
});

test('a merge conflict is printed once: its summary on the item line, its hunk beneath as written, the stderr lines it shows not again', () => {
  const hunk = ['--- notes.md', '@@ -1 +1 @@', '-base', '+from alpha'];
  const lines = failureLines([
    {
      itemId: 'merge',
      state: 'failed',
      failure: {
        code: 'CAIRN_MERGE_CONFLICT',
        message: `The patch of item "beta" (runtime.from[1]) conflicts with what was merged before it ("alpha") at path: notes.md. Nothing was merged.\n${hunk.join('\n')}`,
        exitCode: null,
        signal: null,
        // The worker writes every hunk to the item's stderr log too.
        stderrTail: `merging 2 patches\n${hunk.join('\n')}\n`,
      },
    },
  ]);
  expect(lines).toEqual([
    'merge failed: CAIRN_MERGE_CONFLICT The patch of item "beta" (runtime.from[1]) conflicts with what was merged before it ("alpha") at path: notes.md. Nothing was merged.',
    '    --- notes.md',
    '    @@ -1 +1 @@',
    '    -base',
    '    +from alpha',
    '    | merging 2 patches',
  ]);
  // Each line of the hunk once.
  for (const line of hunk) expect(lines.filter((printed) => printed.includes(line)).length, line).toBe(1);
});
