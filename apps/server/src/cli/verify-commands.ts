import { formatVerificationReport } from '../evidence/format-verification-report.ts';
import { verifyEvidence } from '../evidence/verify-evidence.ts';
import { json, program, readInputFile, say } from './cli-program.ts';

/** `cairn verify`: an evidence bundle checked offline (or with its anchors read live). */
export function addVerifyCommands(): void {
  program
    .command('verify')
    .argument('<bundle>', 'an evidence bundle (cairn.bundle/v1) file')
    .option('--trusted-key <keyId...>', 'key ids the checkpoint must be signed by (sha256:...)')
    .option('--online', "also read each anchor live (a 'file' anchor from its directory); without it nothing is read but the file")
    .description('verify an evidence bundle (offline unless --online); exit 1 unless every check it ran passed')
    .action(async (file: string, options: { trustedKey?: string[]; online?: boolean }) => {
      const report = await verifyEvidence(new Uint8Array(readInputFile(file, 'the evidence bundle')), { ...(options.trustedKey ? { trustedKeyIds: options.trustedKey } : {}), online: options.online === true });
      if (json()) say(JSON.stringify(report));
      else for (const line of formatVerificationReport(report)) say(line);
      process.exitCode = report.valid ? 0 : 1;
    });
}
