import type { ItemLogEnd, ItemView } from '@cairn/client';
import { CairnError, isCairnError } from '@cairn/protocol/errors';
import { clientOf, exitCodes, json, program, say } from './cli-program.ts';
import { egressLines, egressOf } from './egress-lines.ts';

/**
 * `cairn logs RUN ITEM [--attempt N] [--follow]`: an item's output, stdout to stdout and stderr to
 * stderr, of its latest attempt or `--attempt N`; with `--follow`, live until the attempt ends (and,
 * without `--attempt`, on through the item's retries until its last attempt ends). Then, when the
 * attempt did not succeed, how it ended (on stderr), and exit 1. Behind a network allow-list, what
 * the attempt's egress proxy refused, each refusal with the allow entry that would admit it (on
 * stderr too: stdout stays the item's own output).
 */
export function addLogsCommands(): void {
  program
    .command('logs')
    .argument('<runId>', 'the run (its id, as submit printed it)')
    .argument('<itemId>', 'the item whose output to print')
    .option('--attempt <n>', 'which attempt (1 is the first; default: the latest)')
    .option('-f, --follow', 'stream the output live until the attempt ends (waits for the item to start; without --attempt, follows its retries too)')
    .option('--server <url>', 'the server')
    .description("print an item's stdout and stderr; exit 1 when the attempt did not succeed")
    .action(async (runId: string, itemId: string, options: { attempt?: string; follow?: boolean; server?: string }) => {
      const attempt = options.attempt === undefined ? undefined : Number(options.attempt);
      if (attempt !== undefined && (!Number.isSafeInteger(attempt) || attempt < 1)) {
        throw new CairnError('CAIRN_PAYLOAD_INVALID', `--attempt must be a whole number from 1 (the first attempt), not ${JSON.stringify(options.attempt)}.`, {
          path: '--attempt',
        });
      }
      // Ctrl-C stops the following, not the item.
      const interrupted = new AbortController();
      const stop = () => interrupted.abort();
      process.once('SIGINT', stop);
      const cairn = await clientOf(options.server);
      let end: ItemLogEnd | undefined;
      try {
        let next = attempt;
        for (;;) {
          const previous = end;
          end = undefined;
          try {
            for await (const line of cairn.logs(runId, itemId, {
              ...(next === undefined ? {} : { attempt: next }),
              follow: options.follow === true,
              signal: interrupted.signal,
            })) {
              if (json()) say(JSON.stringify(line));
              else if ('stream' in line) await write(line.stream === 'stdout' ? process.stdout : process.stderr, line.text);
              if ('end' in line) end = line.end;
            }
          } catch (error) {
            // The retry waited for never came (the run was cancelled meanwhile): the last attempt stands.
            if (previous === undefined || !isCairnError(error, 'CAIRN_NOT_FOUND')) throw error;
            end = previous;
            break;
          }
          // Following the item (no --attempt): an attempt that failed while the item goes on is
          // followed by its retry, as the item's output goes on.
          if (!options.follow || attempt !== undefined || !end || end.state === 'succeeded') break;
          const item = (await cairn.items(runId)).find((candidate) => candidate.itemId === itemId);
          if (!item || terminalItemStates.has(item.state)) break;
          if (!json()) process.stderr.write(`${attemptEndLine(end)}; attempt ${end.attempt + 1} follows\n`);
          next = end.attempt + 1;
        }
      } catch (error) {
        if (!interrupted.signal.aborted) {
          if (!isCairnError(error, 'CAIRN_NOT_FOUND') || error.path !== 'itemId') throw error;
          // No attempt ever ran: an item that ended so (a refused dispatch, a rejection, a skip)
          // still says why, in place of output.
          const item = (await cairn.items(runId)).find((candidate) => candidate.itemId === itemId);
          if (!item || !terminalItemStates.has(item.state)) throw error;
          if (!json()) process.stderr.write(`${neverRanLine(item)}\n`);
          process.exitCode = item.state === 'succeeded' ? exitCodes.done : exitCodes.failed;
          return;
        }
      } finally {
        process.off('SIGINT', stop);
      }
      if (interrupted.signal.aborted) {
        process.stderr.write(`\nStopped following item ${itemId}; it goes on running on the server.\n`);
        process.exitCode = 130;
        return;
      }
      if (!end) {
        if (!json())
          process.stderr.write(`[cairn] the attempt of item ${itemId} is still running; \`cairn logs ${runId} ${itemId} --follow\` streams the rest.\n`);
        return;
      }
      const ended = attemptEndLine(end);
      if (ended !== undefined && !json()) process.stderr.write(`${ended}\n`);
      const shown = end.attempt;
      const egress = egressOf((await cairn.attempts(runId, itemId)).find((candidate) => candidate.attempt === shown) ?? {});
      if (egress !== undefined && json()) say(JSON.stringify({ egress: { attempt: shown, ...egress } }));
      else if (egress !== undefined) for (const line of egressLines({ attempt: shown, ...egress }, 0)) process.stderr.write(`[cairn] ${line}\n`);
      process.exitCode = end.state === 'succeeded' ? exitCodes.done : exitCodes.failed;
    });
}

const terminalItemStates = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);

/**
 * What `cairn logs` prints after the output of an attempt that did not succeed (nothing for one
 * that did): its state and exit code, and its failure when the server reports one.
 */
export function attemptEndLine(end: ItemLogEnd): string | undefined {
  if (end.state === 'succeeded') return undefined;
  const exit = end.exitCode === null ? 'no exit code' : `exit code ${end.exitCode}`;
  const { failure } = end;
  const rule = failure?.rule ? ` (rule ${failure.rule})` : '';
  return `[cairn] attempt ${end.attempt} ${end.state} (${exit})${failure ? `: ${failure.code} ${failure.message}${rule}` : ''}`;
}

/** What `cairn logs` says of an item that ended before any attempt of it ran. */
function neverRanLine(item: ItemView): string {
  const { failure } = item;
  return `[cairn] item ${item.itemId} ${item.state} before any attempt ran, so it has no output${failure ? `: ${failure.code} ${failure.message}` : ''}`;
}

/** Writes and waits for the stream to take it, so a slow pipe holds back the reading, not memory. */
function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => (stream.write(text) ? resolve() : stream.once('drain', resolve)));
}
