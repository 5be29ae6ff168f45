import type { RunnerView } from '@cairn/client';
import type { Command } from 'commander';
import { clientOf, json, program, say } from './cli-program.ts';

/**
 * `cairn runners [drain|resume NAME]`: the runners of a running server (ADR 0050), with an admin
 * token; `cairn runner` (singular) is the daemon itself. NAME is what the list shows first: the
 * runner's token name, or its runner name (token:<id>).
 */
export function addRunnersCommands(): void {
  const runners = program
    .command('runners')
    .description("the runners that polled a running server since it started: each one's state, labels, free slots and attempts held (admin token)")
    .option('--server <url>', 'the server')
    .action(async (options: { server?: string }) => {
      const listed = await (await clientOf(options.server)).runners();
      if (json()) say(JSON.stringify(listed));
      else if (listed.length === 0) say('no runner has polled this server since it started (cairn runner --server URL on a host, with a runners:run token)');
      else for (const runner of listed) say(runnerLine(runner));
    });
  addStateCommand(runners, 'drain', 'give a runner no new attempts; those it holds run to their end (until resumed, or the server restarts)', (runner) =>
    runner.held === 0
      ? 'drained: it takes no new attempts and holds none (safe to stop)'
      : `drained: it takes no new attempts; ${runner.held} held run${runner.held === 1 ? 's' : ''} on (cairn runners shows when none is left)`,
  );
  addStateCommand(runners, 'resume', 'give a drained runner attempts again', () => 'resumed: it takes attempts again');
}

function addStateCommand(parent: Command, verb: 'drain' | 'resume', description: string, outcome: (runner: RunnerView) => string): void {
  parent
    .command(verb)
    .argument('<name>', "the runner: its token's name (cairn runners, first column) or its runner name (token:<id>)")
    .option('--server <url>', 'the server')
    .description(description)
    .action(async (name: string, options: { server?: string }) => {
      const cairn = await clientOf(options.server ?? (parent.opts() as { server?: string }).server);
      const runner = verb === 'drain' ? await cairn.drainRunner(name) : await cairn.resumeRunner(name);
      say(json() ? JSON.stringify(runner) : `runner ${nameOf(runner)} ${outcome(runner)}`);
    });
}

/** `build-1 (token:4f2a…)`, or the runner name alone when its token is not listed. */
function nameOf(runner: RunnerView): string {
  return runner.tokenName === null ? runner.name : `${runner.tokenName} (${runner.name})`;
}

/** One line of the list: name, runner name, state, what it offers and holds, when it last polled. */
export function runnerLine(runner: RunnerView): string {
  const state = [runner.state, ...(runner.draining ? ['draining'] : []), ...(runner.tokenRevoked ? ['token revoked'] : [])].join(', ');
  return [
    (runner.tokenName ?? '-').padEnd(16),
    runner.name.padEnd(19),
    state.padEnd(20),
    `v${runner.version}`.padEnd(8),
    `labels ${runner.labels.join(',') || '-'}`.padEnd(24),
    `free ${runner.slots}`.padEnd(8),
    `held ${runner.held}`.padEnd(8),
    `last poll ${runner.lastSeen}`,
  ].join(' ');
}
