import { mkdtemp, mkdir, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { RuntimeAdapterV1, RuntimeResult, RuntimeSpec } from '@cairn/core';
import type { ConformanceCase, ConformanceCaseContext } from '../harness/conformance-case.ts';
import { expectCairnError } from '../harness/expect-cairn-error.ts';
import { fail } from '../harness/fail.ts';
import type { RuntimeAdapterScenario } from './runtime-adapter-scenario.ts';
import type { RuntimeAdapterSuiteOptions } from './runtime-adapter-suite-options.ts';

/** One runtime adapter case. */
export type RuntimeAdapterCase = ConformanceCase<RuntimeAdapterV1, never, RuntimeAdapterSuiteOptions>;
type Context = ConformanceCaseContext<RuntimeAdapterV1, never, RuntimeAdapterSuiteOptions>;

interface Run {
  readonly result: RuntimeResult;
  readonly stdout: string;
  readonly stderr: string;
  /** Removed once `runScenario` returns: inspect it inside the `inspect` callback. */
  readonly workspace: string;
}

/**
 * Runs `body` with a fresh workspace beside a sibling directory holding a sentinel, then checks
 * with node:fs that the sibling and the parent are exactly as they were: the suite is the oracle
 * for "writes nothing outside the workspace". Everything is removed afterwards.
 */
async function withWorkspace<Result>(body: (workspace: string) => Promise<Result>): Promise<Result> {
  const parent = await realpath(await mkdtemp(join(tmpdir(), 'cairn-conformance-runtime-')));
  try {
    const workspace = join(parent, 'workspace');
    const sibling = join(parent, 'sibling');
    await mkdir(workspace);
    await mkdir(sibling);
    await writeFile(join(sibling, 'sentinel.txt'), 'untouched');
    const result = await body(workspace);
    expect((await readdir(parent)).sort(), 'the workspace parent holds only what the suite put there').toEqual(['sibling', 'workspace']);
    expect(await readdir(sibling), 'the sibling directory is unchanged').toEqual(['sentinel.txt']);
    expect(await readFile(join(sibling, 'sentinel.txt'), 'utf8'), 'the sentinel is unchanged').toBe('untouched');
    return result;
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
}

/** Runs a scenario in a fresh workspace (see `withWorkspace`); `inspect` sees it before removal. */
async function runScenario(
  context: Context,
  scenario: RuntimeAdapterScenario,
  control: (controller: AbortController) => void = () => undefined,
  inspect: (run: Run) => Promise<void> = async () => undefined,
): Promise<Run> {
  return withWorkspace(async (workspace) => {
    const stdout: Uint8Array[] = [];
    const stderr: Uint8Array[] = [];
    const controller = new AbortController();
    control(controller);
    const result = await context.instance.run({
      workspace,
      spec: context.options.scenario(scenario),
      env: {},
      signal: controller.signal,
      sinks: { stdout: (chunk) => void stdout.push(Uint8Array.from(chunk)), stderr: (chunk) => void stderr.push(Uint8Array.from(chunk)) },
    });
    const run: Run = { result, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), workspace };
    await inspect(run);
    return run;
  });
}

/** The RuntimeAdapterV1 cases, in registration order; exported for meta-tests. */
export const runtimeAdapterCases: readonly RuntimeAdapterCase[] = [
  {
    id: 'writes-in-workspace',
    title: 'runs in the given workspace: a relative write lands there, and nothing is written outside it',
    async run(context) {
      await runScenario(context, { kind: 'write-file', path: 'out/result.txt', content: 'written by the runtime' }, undefined, async (run) => {
        expect(run.result.exitCode).toBe(0);
        expect(await readFile(join(run.workspace, 'out/result.txt'), 'utf8')).toBe('written by the runtime');
      });
    },
  },
  {
    id: 'working-directory',
    title: 'the working directory is the workspace',
    async run(context) {
      await runScenario(context, { kind: 'print-working-directory' }, undefined, async (run) => {
        expect(await realpath(run.stdout.trim())).toBe(run.workspace);
      });
    },
  },
  {
    id: 'exit-codes',
    title: 'the exit code is reported: 0, 3 and 42',
    async run(context) {
      for (const exitCode of [0, 3, 42]) {
        const run = await runScenario(context, { kind: 'exit', exitCode });
        expect(run.result.exitCode, `exit ${exitCode}`).toBe(exitCode);
        expect(run.result.aborted).toBe(false);
      }
    },
  },
  {
    id: 'output-sinks',
    title: 'stdout and stderr are delivered to their own sinks, byte-exact and not mixed',
    async run(context) {
      const run = await runScenario(context, { kind: 'print', stdout: 'to stdout: é 日本 😀\n', stderr: 'to stderr\n' });
      expect(run.stdout).toBe('to stdout: é 日本 😀\n');
      expect(run.stderr).toBe('to stderr\n');
      expect(run.result.exitCode).toBe(0);
    },
  },
  {
    id: 'abort-stops',
    title: 'the abort signal stops a running runtime promptly and the result says aborted',
    async run(context) {
      const limit = context.options.abortTimeoutMs ?? 3_000;
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const run = await runScenario(context, { kind: 'run-until-aborted' }, (controller) => {
        timer = setTimeout(() => controller.abort(), 200);
      }).finally(() => clearTimeout(timer));
      const elapsed = Date.now() - started;
      if (elapsed > 200 + limit) fail(`an aborted run took ${elapsed} ms to resolve (limit ${limit} ms after abort)`);
      expect(run.result.aborted).toBe(true);
      expect(run.result.exitCode, 'an aborted run does not report success').not.toBe(0);
    },
  },
  {
    id: 'refuses-foreign-spec',
    title: 'runs only specs of its kind (for agents, its adapter name): another spec rejects with CAIRN_RUNTIME_FAILED and writes nothing',
    async run(context) {
      const own = context.options.scenario({ kind: 'exit', exitCode: 0 });
      if (own.kind === 'command') expect(context.instance.kind, 'the adapter that runs command specs has kind "command"').toBe('command');
      else expect(own.kind === 'agent' ? own.adapter : own.kind, 'the agent specs this adapter runs name it as their adapter').toBe(context.instance.kind);
      const foreign: [string, RuntimeSpec][] = [
        ['an agent spec for another adapter', { kind: 'agent', adapter: `conformance-not-${context.instance.kind}`, prompt: 'write a file named x' }],
        // The worker merges by itself; an adapter handed a merge refuses it as any spec not its own.
        ['a merge spec', { kind: 'merge', from: ['conformance-producer'] }],
      ];
      if (context.instance.kind !== 'command') foreign.push(['a command spec', { kind: 'command', argv: ['conformance-no-such-program'] }]);
      for (const [what, spec] of foreign) {
        await withWorkspace(async (workspace) => {
          const sinks = { stdout: () => undefined, stderr: () => undefined };
          await expectCairnError(
            () => context.instance.run({ workspace, spec, env: {}, signal: new AbortController().signal, sinks }),
            'CAIRN_RUNTIME_FAILED',
            `run of ${what}`,
          );
          expect(await readdir(workspace), `${what}: nothing was written to the workspace`).toEqual([]);
        });
      }
    },
  },
  {
    id: 'aborted-before-start',
    title: 'a signal aborted before run starts resolves promptly as aborted, having written nothing',
    async run(context) {
      await runScenario(
        context,
        { kind: 'write-file', path: 'should-not-exist.txt', content: 'x' },
        (controller) => controller.abort(),
        async (run) => {
          expect(run.result.aborted).toBe(true);
          expect(await readdir(run.workspace)).toEqual([]);
        },
      );
    },
  },
];
