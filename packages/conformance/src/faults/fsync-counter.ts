import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The syscalls that make data durable and that a database or a storage provider calls. */
const durabilityCalls = ['fsync', 'fdatasync'] as const;

/**
 * Runs `argv` under strace and counts the fsync and fdatasync calls of the process and every
 * thread and child it starts (libuv's pool threads make a file write's fsync): counted, not
 * timed, so the number holds on a noisy machine. Only those calls stop the process
 * (`--seccomp-bpf`), so the program runs at nearly its own speed. Returns the calls and the
 * program's standard output. `options.strace` is the program to run (`strace` on the PATH, which
 * the set-up script installs, by default).
 */
export function countFsyncs(argv: readonly string[], options: { readonly strace?: string } = {}): { fsyncs: number; stdout: string } {
  const strace = options.strace ?? 'strace';
  const directory = mkdtempSync(join(tmpdir(), 'cairn-strace-'));
  const summary = join(directory, 'summary.txt');
  try {
    const stdout = execFileSync(strace, ['-f', '--seccomp-bpf', '-c', '-e', `trace=${durabilityCalls.join(',')}`, '-o', summary, ...argv], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return { fsyncs: parseSummary(readFileSync(summary, 'utf8')), stdout };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/**
 * Sums the `calls` column of strace's summary for the durability calls. A line reads
 * `% time  seconds  usecs/call  calls  [errors]  syscall`; with no call at all strace prints only
 * the header and an empty total, which is zero.
 */
export function parseSummary(text: string): number {
  let calls = 0;
  for (const line of text.split('\n')) {
    const columns = line.trim().split(/\s+/);
    const syscall = columns.at(-1) as (typeof durabilityCalls)[number];
    if (!durabilityCalls.includes(syscall)) continue;
    const count = Number(columns[3]);
    if (!Number.isInteger(count)) throw new Error(`cannot read strace's summary line: ${line}`);
    calls += count;
  }
  return calls;
}
