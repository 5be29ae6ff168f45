import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol/errors';
import { clientOf, json, program, say } from './cli-program.ts';
import { writeChunks } from './file-output.ts';

/**
 * `cairn export trajectories RUN`: a run's agent attempts as ATIF trajectories (audit:read), one
 * document per attempt, built by the server from the run's recorded model calls. Each document's
 * digest (sha256 of its canonical JSON) is printed, so a copy can be checked later.
 */
export function addExportCommands(): void {
  const exports = program.command('export').description("a run's records in formats other tools read");
  exports
    .command('trajectories')
    .argument('<runId>', 'the run')
    .option('--item <itemId>', "only this agent item's attempts")
    .option('--format <format>', 'the format: atif (the Agent Trajectory Interchange Format, v1.4)', 'atif')
    .option(
      '--output <path>',
      'write the documents (0600) here: a file when there is one document, else a folder (made 0700) with one <item>.<attempt>.atif.json per attempt; stdout without it',
    )
    .option('--server <url>', 'the server')
    .description("a run's agent attempts as ATIF trajectories from its recorded model calls, each with its digest (sha256 of its canonical JSON)")
    .action(async (runId: string, options: { item?: string; format: string; output?: string; server?: string }) => {
      if (options.format !== 'atif')
        throw new CairnError(
          'CAIRN_PAYLOAD_INVALID',
          `--format must be atif (the Agent Trajectory Interchange Format), not ${JSON.stringify(options.format)}.`,
          {
            path: '--format',
          },
        );
      const view = await (await clientOf(options.server)).trajectories(runId, options.item === undefined ? {} : { item: options.item });
      // For scripts: the server's answer itself, every document beside its digest.
      if (json() && options.output === undefined) return say(JSON.stringify(view));
      const documents = view.trajectories;
      const text = (document: unknown) => `${JSON.stringify(document, null, 2)}\n`;
      const intoFolder =
        options.output !== undefined &&
        (documents.length !== 1 || options.output.endsWith('/') || (existsSync(options.output) && statSync(options.output).isDirectory()));
      const written: { itemId: string; attempt: number; digest: string; file?: string }[] = [];
      if (options.output === undefined) {
        // One document as itself; several as a JSON array of them, in item then attempt order.
        await writeChunks([text(documents.length === 1 ? documents[0]!.trajectory : documents.map((entry) => entry.trajectory))], undefined);
        for (const { itemId, attempt, digest } of documents) written.push({ itemId, attempt, digest });
      } else if (!intoFolder) {
        await writeChunks([text(documents[0]!.trajectory)], options.output);
        written.push({ ...summary(documents[0]!), file: options.output });
      } else {
        mkdirSync(options.output, { recursive: true, mode: 0o700 });
        for (const entry of documents) {
          // Grown items' ids hold slashes (plan/fix-alpha): one flat file name per attempt.
          const file = join(options.output, `${entry.itemId.replaceAll('/', '__')}.${entry.attempt}.atif.json`);
          await writeChunks([text(entry.trajectory)], file);
          written.push({ ...summary(entry), file });
        }
      }
      if (json()) return say(JSON.stringify({ runId, format: view.format, schemaVersion: view.schemaVersion, trajectories: written }));
      // The documents may be on stdout: the digests go to stderr then.
      const report = options.output === undefined ? (line: string) => void process.stderr.write(`${line}\n`) : say;
      if (written.length === 0) report(`run ${runId} has no agent attempts${options.item === undefined ? '' : ` of item ${options.item}`}: no trajectories`);
      for (const entry of written)
        report(`${entry.digest} ${entry.itemId} attempt ${entry.attempt} (${view.schemaVersion})${entry.file === undefined ? '' : ` ${entry.file}`}`);
    });
}

function summary(entry: { readonly itemId: string; readonly attempt: number; readonly digest: string }) {
  return { itemId: entry.itemId, attempt: entry.attempt, digest: entry.digest };
}
