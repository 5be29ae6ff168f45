import type { AuditAction } from '@cairn/core';
import type { AuditEntryFilters } from '@cairn/client';
import { CairnError } from '@cairn/protocol/errors';
import { formatLogVerification } from '../capabilities/evidence/format-log-verification.ts';
import { clientOf, configOption, json, program, say } from './cli-program.ts';
import { writeChunks } from './file-output.ts';
import { loadServerConfigLazily } from './lazy-server-config.ts';

/**
 * `cairn audit export`: the audit log (or part of it) as NDJSON, streamed from the server.
 * `cairn audit bundle`: one run's evidence bundle, to verify offline with `cairn verify`.
 * `cairn audit verify-log`: the whole log of the server in this folder, against its checkpoints
 * (and anchors), read from its database rather than through the API.
 */
export function addAuditCommands(): void {
  const audit = program.command('audit').description("the audit log: export and bundle from a running server (audit:read), verify-log in the server's folder");
  audit
    .command('export')
    .option('--run <runId>', "only this run's entries")
    .option('--action <action>', 'only this action (run.submitted, item.reused, access.denied, ...)')
    .option('--actor <id>', 'only entries by this actor id (token:<id>, operator, engine)')
    .option('--since <time>', 'only entries at or after this ISO time')
    .option('--until <time>', 'only entries before this ISO time')
    .option('--from <seq>', 'from this sequence number (inclusive)')
    .option('--to <seq>', 'up to this sequence number (exclusive)')
    .option('--out <file>', 'write to this file (0600) instead of stdout')
    .option('--server <url>', 'the server')
    .description('audit entries as NDJSON, one {"entry":{...},"leafIndex":n} per line (an unfiltered export verifies against a checkpoint)')
    .action(
      async (options: {
        run?: string;
        action?: string;
        actor?: string;
        since?: string;
        until?: string;
        from?: string;
        to?: string;
        out?: string;
        server?: string;
      }) => {
        const filters: AuditEntryFilters = {
          ...(options.run ? { runId: options.run } : {}),
          ...(options.action ? { action: options.action as AuditAction } : {}),
          ...(options.actor ? { actor: options.actor } : {}),
          ...(options.since ? { since: options.since } : {}),
          ...(options.until ? { until: options.until } : {}),
          ...(options.from ? { from: Number(options.from) } : {}),
          ...(options.to ? { to: Number(options.to) } : {}),
        };
        let count = 0;
        const entries = (await clientOf(options.server)).auditEntries(filters);
        const { exportLogNdjson } = await import('@cairn/audit');
        async function* lines() {
          // Each line is written as @cairn/audit's log export writes it (canonical JSON).
          for await (const entry of entries) {
            count++;
            yield* exportLogNdjson([entry]);
          }
        }
        await writeChunks(lines(), options.out);
        if (options.out !== undefined) say(json() ? JSON.stringify({ out: options.out, entries: count }) : `wrote ${count} audit entries to ${options.out}`);
      },
    );
  audit
    .command('bundle')
    .argument('<runId>', 'the run')
    .option('--out <file>', 'write to this file (0600) instead of stdout')
    .option(
      '--artifacts <folder>',
      "also fetch every artifact the bundle lists into this folder (made 0700), one file (0600) per artifact named by its digest's hex; those already there with matching content are kept. Check them with cairn verify --artifacts",
    )
    .option('--server <url>', 'the server')
    .description("a run's evidence bundle (cairn.bundle/v1): verify it anywhere with cairn verify")
    .action(async (runId: string, options: { out?: string; artifacts?: string; server?: string }) => {
      const client = await clientOf(options.server);
      const bundle = await client.bundle(runId);
      await writeChunks([Buffer.from(bundle.buffer, bundle.byteOffset, bundle.byteLength).toString('utf8')], options.out);
      const artifacts =
        options.artifacts === undefined
          ? undefined
          : await (
              await import('../capabilities/evidence/artifact-folder.ts')
            ).fillArtifactFolder(options.artifacts, listedArtifacts(bundle), (digest) => client.blob(digest));
      const artifactsText =
        artifacts === undefined
          ? ''
          : `; ${artifacts.fetched} artifact${artifacts.fetched === 1 ? '' : 's'} fetched into ${artifacts.folder}, ${artifacts.present} already there (check them with cairn verify ${options.out ?? 'BUNDLE'} --artifacts ${artifacts.folder})`;
      if (options.out !== undefined)
        say(
          json()
            ? JSON.stringify({ out: options.out, runId, bytes: bundle.byteLength, ...(artifacts === undefined ? {} : { artifacts }) })
            : `wrote the evidence bundle of run ${runId} to ${options.out} (${bundle.byteLength} bytes); check it with cairn verify ${options.out}${artifactsText}`,
        );
      // The bundle went to stdout: what was fetched is said on stderr, so stdout stays the bundle.
      else if (artifacts !== undefined) process.stderr.write(`${json() ? JSON.stringify({ runId, artifacts }) : artifactsText.slice(2)}\n`);
    });
  audit
    .command('verify-log')
    .option('--online', "also read every anchored checkpoint from the trusted anchors (the config's, or --anchor's)")
    .option(
      '--anchor <kind:location...>',
      "with --online, read these anchors instead of the config's (file:<directory>, s3-object-lock:s3://<bucket>/<prefix>[?endpoint=<url>&region=<region>&forcePathStyle=true])",
    )
    .description(
      "check the whole audit log of the server in this folder (or --config), read from its database a page at a time: every entry in order, every checkpoint's signature (the server's own key) and root, its receipts, and with --online its anchors; every checkpoint is listed with its result (a failed one does not stop the check; a missing, malformed or edited entry does, and the checkpoints after it are listed as not checked); exit 0 when all passed, 1 when any failed (the first failure named with its seq)",
    )
    .action(async (options: { online?: boolean; anchor?: string[] }) => {
      const loaded = await loadServerConfigLazily(configOption());
      if (!options.online && options.anchor && options.anchor.length > 0)
        throw new CairnError('CAIRN_PAYLOAD_INVALID', '--anchor is read only with --online; add --online, or leave --anchor out.', { path: '--anchor' });
      const [{ serverAnchors }, { trustedAnchorOf }] = await Promise.all([
        import('../capabilities/evidence/server-trust.ts'),
        import('../capabilities/evidence/verifier-anchors.ts'),
      ]);
      const anchors = !options.online
        ? []
        : options.anchor && options.anchor.length > 0
          ? options.anchor.map((specification) => trustedAnchorOf(specification, '--anchor'))
          : serverAnchors(loaded);
      const { verifyServerLog } = await import('../capabilities/evidence/verify-server-log.ts');
      const result = await verifyServerLog(loaded, { anchors });
      if (json()) say(JSON.stringify({ ...result, anchors: anchors.map((anchor) => anchor.name) }));
      else for (const line of formatLogVerification(result, options.online ? anchors.map((anchor) => anchor.name) : undefined)) say(line);
      process.exitCode = result.valid ? 0 : 1;
    });
}

/** The digests of the artifacts a bundle lists; CAIRN_BUNDLE_INVALID when it is not a bundle with a list of them. */
function listedArtifacts(bundle: Uint8Array): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bundle));
  } catch (error) {
    throw new CairnError(
      'CAIRN_BUNDLE_INVALID',
      `The server answered a bundle that is not JSON, so its artifacts cannot be listed: ${(error as Error).message}.`,
    );
  }
  const artifacts = (parsed as { artifacts?: unknown } | null)?.artifacts;
  if (!Array.isArray(artifacts) || artifacts.some((artifact) => typeof (artifact as { digest?: unknown } | null)?.digest !== 'string'))
    throw new CairnError('CAIRN_BUNDLE_INVALID', 'The server answered a bundle without a list of artifacts ($.artifacts), so none can be fetched.');
  return [...new Set(artifacts.map((artifact) => (artifact as { digest: string }).digest))];
}
