import type { RunSpecV1 } from '@cairn/core';
import type { ItemView } from '@cairn/client';
import { InvalidArgumentError } from 'commander';
import { CairnError } from '@cairn/protocol/errors';
import { budgetText } from '@cairn/protocol/format';
import { clientOf, json, program, readInputFile, say } from './cli-program.ts';
import { failureLines, progressOutput, RunProgress } from './run-progress.ts';
import { earlierFailureLines, rerunMerges } from './earlier-failure-lines.ts';
import { spendText } from './spend-text.ts';
import { statusItemLines } from './status-lines.ts';
import { approvalProgress } from './approval-progress.ts';

/**
 * `cairn submit`, `status`, `watch`, `cancel`, `approve`, `reject` and `patch`: a run's life,
 * through a running server.
 */
export function addRunCommands(): void {
  program
    .command('submit')
    .argument('<spec>', 'a run spec, YAML or JSON')
    .option('--workspace <dir>', 'snapshot this directory (a git tree, or every file) and run over it')
    .option('--history <commits>', "with --workspace in a git repository: how many of its latest commits the workspace's .git holds (0: none)", '50')
    .option('--wait', 'follow the run until it ends; exit 1 unless it succeeded')
    .option('--idempotency-key <key>', 'the same key and spec return the same run')
    .option('-q, --quiet', 'print only the run id, and no progress (for scripts: runId=$(cairn submit -q run.yaml))')
    .option('--server <url>', "the server (default: this config's server.host:server.port)")
    .description('submit a run to a running server')
    .action(
      async (file: string, options: { workspace?: string; history: string; wait?: boolean; idempotencyKey?: string; quiet?: boolean; server?: string }) => {
        const history = Number(options.history);
        if (!Number.isSafeInteger(history) || history < 0) {
          throw new CairnError('CAIRN_PAYLOAD_INVALID', `--history must be a whole number of commits from 0 (none), not ${JSON.stringify(options.history)}.`, {
            path: '--history',
          });
        }
        const cairn = await clientOf(options.server);
        // The spec's text is sent as it is (the server checks it): decoding it builds no schema. The
        // run-spec checks (zod, the schemas, YAML) load only when a workspace makes a check here worth it.
        const { decodeRunSpec } = await import('@cairn/protocol/spec');
        let spec: RunSpecV1 | string = decodeRunSpec(readInputFile(file, 'the run spec'), file);
        if (options.workspace) {
          // Checked here before the snapshot is uploaded; the server checks it again, with what it knows.
          const { loadRunSpec } = await import('@cairn/protocol');
          const checked = loadRunSpec(spec, { source: file }).spec;
          const { digest, entries } = await cairn.uploadWorkspace(options.workspace, { history });
          spec = { ...checked, workspace: { snapshot: digest } };
          if (!json() && !options.quiet) say(`workspace ${options.workspace}: ${entries} files, ${digest}`);
        }
        const submitted = await cairn.submit(spec, options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {});
        if (!options.wait) {
          say(
            options.quiet
              ? submitted.runId
              : json()
                ? JSON.stringify(submitted)
                : `run ${submitted.runId} ${submitted.created ? 'submitted' : 'already existed (same idempotency key and spec)'}`,
          );
          return;
        }
        // With --quiet the run id is the only line: no progress, no summary (the exit code tells).
        const following = followingInterrupts(submitted.runId);
        if (options.quiet) say(submitted.runId);
        else if (!json()) say(`run ${submitted.runId}`);
        const showProgress = !json() && options.quiet !== true;
        const progress = new RunProgress(await cairn.items(submitted.runId), progressOutput(!showProgress));
        // Progress moves on item states only; without progress only the run's end is asked for.
        const run = await cairn.waitForRun(
          submitted.runId,
          showProgress ? { signal: following.signal, onEvent: (event) => progress.onEvent(event), types: ['item.state'] } : { signal: following.signal },
        );
        progress.done();
        if (following.stopped()) return;
        if (!options.quiet)
          say(json() ? JSON.stringify(run) : `run ${run.state}: ${run.itemsFinished}/${run.itemsTotal} items finished, ${run.itemsFailed} failed`);
        if (!options.quiet && !json() && run.itemsFailed > 0) say(failureLines(await cairn.items(submitted.runId)).join('\n'));
        process.exitCode = run.state === 'succeeded' ? 0 : 1;
      },
    );

  program
    .command('status')
    .argument('<runId>', 'the run (its id, as submit printed it)')
    .option('--server <url>', 'the server')
    .description('a run and its items')
    .action(async (runId: string, options: { server?: string }) => {
      const cairn = await clientOf(options.server);
      const [run, items] = await Promise.all([cairn.run(runId), cairn.items(runId)]);
      if (json()) return void say(JSON.stringify({ run, items }));
      say(`run ${run.runId} (${run.name}): ${run.state}${run.priority === undefined ? '' : `, priority ${run.priority}`}`);
      if (run.spend) say(`spend: ${spendText(run.spend.total)}`);
      for (const line of statusItemLines(items, run.spend?.items, run.priority)) say(line);
      // A merge that re-ran a producer succeeded after its conflict: only its attempts still say why.
      const earlier = await Promise.all(rerunMerges(items).map(async (merge) => earlierFailureLines(merge, await cairn.attempts(runId, merge.itemId))));
      const failures = [...earlier.flat(), ...failureLines(items)];
      if (failures.length > 0) say(['', ...failures].join('\n'));
    });

  program
    .command('watch')
    .argument('<runId>', 'the run (its id, as submit printed it)')
    .option('--server <url>', 'the server')
    .description("follow a run's events until it ends (resumes after a dropped connection)")
    .action(async (runId: string, options: { server?: string }) => {
      const cairn = await clientOf(options.server);
      // With --json, every event is a line of its own for scripts; otherwise the items' progress.
      const following = followingInterrupts(runId);
      const progress = json() ? undefined : new RunProgress(await cairn.items(runId), progressOutput(false));
      const run = await cairn.waitForRun(runId, {
        signal: following.signal,
        onEvent: (event) => (progress ? progress.onEvent(event) : say(JSON.stringify(event))),
        // The progress moves on item states only; --json prints every event.
        ...(progress ? { types: ['item.state' as const] } : {}),
      });
      progress?.done();
      if (following.stopped()) return;
      if (!json()) say(`run ${run.state}`);
      if (!json() && run.itemsFailed > 0) say(failureLines(await cairn.items(runId)).join('\n'));
      process.exitCode = run.state === 'succeeded' ? 0 : 1;
    });

  for (const [name, description] of [
    ['cancel', 'cancel a run, or one item of it'],
    ['approve', 'approve an item awaiting approval'],
    ['reject', 'reject an item awaiting approval (it fails, with --reason)'],
  ] as const) {
    program
      .command(name)
      .argument('<runId>', 'the run (its id, as submit printed it)')
      .argument(name === 'cancel' ? '[itemId]' : '<itemId>', name === 'cancel' ? 'one item to cancel (default: the whole run)' : 'the item awaiting approval')
      .option('--reason <text>', 'why: stored and audited with what you did')
      .option('--server <url>', 'the server')
      .description(description)
      .action(async (runId: string, itemId: string | undefined, options: { reason?: string; server?: string }) => {
        const cairn = await clientOf(options.server);
        const { reason } = options;
        const result =
          name === 'approve'
            ? await cairn.approve(runId, itemId!, reason)
            : name === 'reject'
              ? await cairn.reject(runId, itemId!, reason)
              : itemId
                ? await cairn.cancelItem(runId, itemId, reason)
                : await cairn.cancel(runId, reason);
        const done = { cancel: 'cancel requested', approve: 'approved', reject: 'rejected' }[name];
        if (json()) say(JSON.stringify(result));
        else if (name === 'cancel') say(`${done}: ${itemId ? `item ${itemId} of ` : ''}run ${runId}`);
        else say(approvalProgress(name === 'approve' ? 'approved' : 'rejected', runId, result as ItemView));
      });
  }

  program
    .command('budget')
    .argument('<runId>', 'the run (its id, as submit printed it)')
    .option('--usd <dollars>', "the run's new budget in US dollars (more than it has spent)", budgetLimit('--usd'))
    .option('--tokens <count>', "the run's new budget in tokens (more than it has used)", budgetLimit('--tokens'))
    .requiredOption('--reason <text>', 'why: stored and audited with the raise')
    .option('--server <url>', 'the server')
    .description('give a run a new budget (the limits named replace its own); a run awaiting one runs again')
    .action(async (runId: string, options: { usd?: number; tokens?: number; reason: string; server?: string }) => {
      if (options.usd === undefined && options.tokens === undefined)
        throw new CairnError('CAIRN_PAYLOAD_INVALID', 'cairn budget needs --usd, --tokens or both: the limits the run gets.', { path: '--usd' });
      const budget = { ...(options.usd === undefined ? {} : { usd: options.usd }), ...(options.tokens === undefined ? {} : { tokens: options.tokens }) };
      const run = await (await clientOf(options.server)).raiseBudget(runId, budget, options.reason);
      say(json() ? JSON.stringify(run) : `budget raised: run ${runId} may spend ${budgetText(budget)} (${run.state})`);
    });

  program
    .command('patch')
    .argument('<runId>', 'the run (its id, as submit printed it)')
    .argument('<itemId>', 'the item whose patch to print')
    .option('--server <url>', 'the server')
    .description("print a succeeded item's patch (apply it with git apply)")
    .action(async (runId: string, itemId: string, options: { server?: string }) => {
      process.stdout.write(await (await clientOf(options.server)).patch(runId, itemId));
    });
}

/**
 * Following a run, Ctrl-C stops the following, not the run: `stopped()` then says how to pick it
 * up again with `cairn watch`, sets exit code 130 as for any interrupted command, and is true.
 */
function followingInterrupts(runId: string): { readonly signal: AbortSignal; stopped(): boolean } {
  const interrupted = new AbortController();
  const stop = () => interrupted.abort();
  process.once('SIGINT', stop);
  return {
    signal: interrupted.signal,
    stopped() {
      process.off('SIGINT', stop);
      if (!interrupted.signal.aborted) return false;
      process.stderr.write(`\nStopped following run ${runId}; it goes on running on the server. Follow it again with: cairn watch ${runId}\n`);
      process.exitCode = 130;
      return true;
    },
  };
}

/** Parses a budget limit option: a positive number (whole for tokens), or a usage error naming it. */
function budgetLimit(option: '--usd' | '--tokens'): (value: string) => number {
  return (value) => {
    const limit = Number(value);
    if (!(limit > 0) || (option === '--tokens' && !Number.isInteger(limit)))
      throw new InvalidArgumentError(option === '--usd' ? 'must be a number of US dollars, more than 0.' : 'must be a whole number of tokens, more than 0.');
    return limit;
  };
}
