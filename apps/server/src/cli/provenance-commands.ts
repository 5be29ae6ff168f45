import { CairnError } from '@cairn/protocol/errors';
import type { Command } from 'commander';
import { clientOf, json, program, readInputFile, say } from './cli-program.ts';
import { writeChunks } from './file-output.ts';

/**
 * `cairn provenance RUN ITEM`: a succeeded item's signed patch provenance (a Sigstore bundle), from
 * a running server (runs:read). `cairn verify provenance FILE`: that bundle checked offline against
 * keys the verifier trusts, and with `--patch` against the patch itself. After `addVerifyCommands()`.
 */
export function addProvenanceCommands(): void {
  const verify = program.commands.find((command) => command.name() === 'verify');
  if (verify === undefined) throw new Error('addProvenanceCommands() adds to cairn verify: call addVerifyCommands() first');
  program
    .command('provenance')
    .argument('<runId>', 'the run')
    .argument('<itemId>', 'the succeeded item whose patch it is about')
    .option('--out <file>', 'write to this file (0600) instead of stdout')
    .option('--server <url>', 'the server')
    .description(
      "a succeeded item's patch provenance, signed by the server: an in-toto statement (SLSA Provenance v1) in a Sigstore bundle; check it with cairn verify provenance",
    )
    .action(async (runId: string, itemId: string, options: { out?: string; server?: string }) => {
      const bundle = await (await clientOf(options.server)).provenance(runId, itemId);
      await writeChunks([Buffer.from(bundle.buffer, bundle.byteOffset, bundle.byteLength).toString('utf8')], options.out);
      if (options.out !== undefined)
        say(
          json()
            ? JSON.stringify({ out: options.out, runId, itemId, bytes: bundle.byteLength })
            : `wrote the provenance of item ${itemId} of run ${runId} to ${options.out}; check it with cairn verify provenance ${options.out}`,
        );
    });
  verify
    .command('provenance')
    .argument('<file>', 'a provenance bundle, as cairn provenance writes it')
    .option('--trusted-key-file <file...>', 'public keys the provenance may be signed by: PEM, or a JSON {keyId, algorithm, publicKey} record')
    .option('--patch <file>', 'the patch it is about: its sha256 must be the statement subject')
    .description(
      "verify a patch's provenance offline against keys you trust (--trusted-key-file, or the server's own key when run in its folder), and with --patch that it is about that patch. Exit 0 verified, 1 a check failed",
    )
    .action(async (file: string, _options: unknown, command: Command) => {
      // `cairn verify` parses the options it shares with this command before handing over: read both.
      const options = command.optsWithGlobals<{ trustedKeyFile?: string[]; trustedKey?: string[]; patch?: string }>();
      if (options.trustedKey !== undefined) {
        throw new CairnError(
          'CAIRN_PAYLOAD_INVALID',
          '--trusted-key names a key by its id, but a provenance bundle does not carry the key: give the public key itself with --trusted-key-file <file>.',
          { path: '--trusted-key' },
        );
      }
      const [{ verifierTrust }, { readBundleFile, verifyProvenance }] = await Promise.all([import('./verifier-trust.ts'), import('@cairn/audit')]);
      // Read as an evidence bundle is: a FIFO or a device is refused before a byte is read, the size and shape bounded.
      const bytes = readBundleFile(file, { what: 'the provenance bundle', writtenBy: 'cairn provenance RUN ITEM' });
      const patch = options.patch === undefined ? undefined : new Uint8Array(readInputFile(options.patch, 'the patch'));
      const { keys } = await verifierTrust(options.trustedKeyFile === undefined ? {} : { trustedKeyFile: options.trustedKeyFile });
      if (keys.length === 0) {
        throw new CairnError(
          'CAIRN_PAYLOAD_INVALID',
          "No key to trust: a provenance bundle names its key but does not carry it. Pass --trusted-key-file <file> (the server's public key), or run cairn verify provenance in the server's folder.",
          { path: '--trusted-key-file' },
        );
      }
      const report = verifyProvenance(bytes, { trustedKeys: keys, ...(patch === undefined ? {} : { patch }) });
      if (json()) say(JSON.stringify({ valid: report.valid, checks: report.checks, ...(report.statement ? { statement: report.statement } : {}) }));
      else {
        say(`valid: ${report.valid}`);
        for (const check of report.checks) say(`  ${check.status.padEnd(11)} ${check.name.padEnd(10)} ${check.detail}`);
      }
      process.exitCode = report.valid ? 0 : 1;
    });
}
