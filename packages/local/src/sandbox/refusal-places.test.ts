import { expect, test } from 'vitest';
import { placesIn } from './refusal-places.ts';

// Lines as tracefs writes them (comm-pid, cpu, flags, timestamp, event, text).
const exit = (pid: number, nr: number, ret: number) => `            perl-${pid}   [001] ..... 100.000000: sys_exit: NR ${nr} = ${ret}`;
const ext4 = (pid: number) => `            perl-${pid}   [001] ..... 100.000000: ext4_da_write_begin: dev 7,3 ino 12 pos 0 len 65536`;

test.each([
  {
    name: 'a refusal during which the workspace’s ext4 did something is the workspace’s',
    lines: [exit(1, 257, 3), ext4(1), exit(1, 1, -28)],
    places: { workspace: 1, tmp: 0 },
  },
  { name: 'one during which it did nothing is /tmp’s', lines: [exit(1, 257, 3), exit(1, 1, -28)], places: { workspace: 0, tmp: 1 } },
  {
    name: 'a workspace write, then a refused /tmp write: /tmp’s (each exit starts afresh)',
    lines: [exit(1, 257, 3), ext4(1), exit(1, 1, 65536), exit(1, 1, -28)],
    places: { workspace: 0, tmp: 1 },
  },
  { name: 'EDQUOT counts as ENOSPC does', lines: [exit(1, 257, 3), ext4(1), exit(1, 1, -122)], places: { workspace: 1, tmp: 0 } },
  { name: 'processes are kept apart', lines: [exit(1, 257, 3), exit(2, 257, 4), ext4(1), exit(2, 1, -28), exit(1, 1, -28)], places: { workspace: 1, tmp: 1 } },
  {
    name: 'a refusal whose syscall is not seen from its start (no earlier exit of its process) is not placed',
    lines: [ext4(1), exit(1, 1, -28)],
    places: { workspace: 0, tmp: 0 },
  },
  { name: 'other failures are not refusals', lines: [exit(1, 257, 3), exit(1, 1, -5), exit(1, 1, -280)], places: { workspace: 0, tmp: 0 } },
])('$name', ({ lines, places }) => {
  expect(placesIn(['# tracer: nop', '#', ...lines, ''].join('\n'))).toEqual(places);
});
