// Live progress: the one line a terminal redraws (bar and counts by state), and the plain lines a
// pipe gets instead, one per item state change.
import type { ItemState } from '@cairn/core';
import { expect, test } from 'vitest';
import { renderProgressLine, RunProgress } from './run-progress.ts';

const states = (entries: [string, ItemState][]) => new Map(entries);

test('the line: a bar of finished items over all, then the count of each state present, in lifecycle order', () => {
  expect(renderProgressLine(states([]))).toBe('[....................] 0/0');
  expect(renderProgressLine(states([['a', 'succeeded'], ['b', 'running'], ['c', 'blocked'], ['d', 'failed'], ['e', 'ready']]), 10)).toBe('[####......] 2/5  blocked 1 · ready 1 · running 1 · succeeded 1 · failed 1');
  const twenty = states(Array.from({ length: 20 }, (_, index): [string, ItemState] => [`i${index}`, index < 12 ? 'succeeded' : 'awaiting-approval']));
  expect(renderProgressLine(twenty, 10)).toBe('[######....] 12/20  awaiting-approval 8 · succeeded 12');
  expect(renderProgressLine(states([['a', 'skipped'], ['b', 'cancelled']]), 4)).toBe('[####] 2/2  skipped 1 · cancelled 1');
});

test('on a terminal one line is redrawn in place, notes go above it, and done moves past it', () => {
  const written: string[] = [];
  const progress = new RunProgress([{ itemId: 'a', state: 'ready' }, { itemId: 'b', state: 'blocked' }], { isTTY: true, write: (text: string) => written.push(text) });
  progress.onEvent({ type: 'item.state', id: 1, time: '', runId: 'r', itemId: 'a', state: 'running' });
  progress.onEvent({ type: 'run.state', id: 2, time: '', runId: 'r', state: 'running' });
  progress.onEvent({ type: 'item.state', id: 3, time: '', runId: 'r', itemId: 'a', state: 'running' });
  progress.note('approved b');
  progress.update('a', 'succeeded');
  progress.done();
  expect(written).toEqual([
    '\r\x1b[2K[....................] 0/2  blocked 1 · ready 1',
    '\r\x1b[2K[....................] 0/2  blocked 1 · running 1',
    '\r\x1b[2Kapproved b\n',
    '\r\x1b[2K[....................] 0/2  blocked 1 · running 1',
    '\r\x1b[2K[##########..........] 1/2  blocked 1 · succeeded 1',
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
  const progress = new RunProgress([{ itemId: 'edit-alpha', state: 'ready' }, { itemId: 'verify', state: 'blocked' }], { write: (text: string) => written.push(text) });
  progress.update('edit-alpha', 'ready');
  progress.update('edit-alpha', 'running');
  progress.onEvent({ type: 'run.state', id: 1, time: '', runId: 'r', state: 'running' });
  progress.update('edit-alpha', 'succeeded');
  progress.note('(approved)');
  progress.done();
  expect(written.join('')).toBe('  edit-alpha       running           0/2\n  edit-alpha       succeeded         1/2\n(approved)\n');
});
