import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AuditEntry, RunSpecV1, VerificationReport } from '@cairn/core';
import { createCairnClient, type CairnClient, type RunView } from '@cairn/client';
import { isCairnError, loadRunSpec } from '@cairn/protocol';
import { initServer } from '../cli/init-server.ts';
import { failureLines, RunProgress, type ProgressOutput } from '../cli/run-progress.ts';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig, type LoadedServerConfig } from '../config/load-server-config.ts';
import { formatVerificationReport } from '../capabilities/evidence/format-verification-report.ts';
import { serverAnchors, serverSigningKey, serverTsaCertificates } from '../capabilities/evidence/server-trust.ts';
import { verifyEvidence } from '../capabilities/evidence/verify-evidence.ts';
import { httpApiSettingsOf } from '../http/http-api-settings.ts';
import { buildHttpApi } from '../http/http-server.ts';
import { demoFiles } from './demo-files.ts';
import { patchStat, type PatchFileStat } from './patch-stat.ts';

export interface DemoOptions {
  /** Where to `cairn init` (created; must not hold a config yet); a fresh temporary directory by default. */
  readonly directory?: string;
  /** Tells the story, line by line (stdout; nothing with --json). */
  readonly say: (line: string) => void;
  /** Warnings (stderr). */
  readonly warn: (line: string) => void;
  /** Live progress of each run. */
  readonly progress: ProgressOutput;
  /**
   * A running server to run the demo against (`cairn demo --server`), instead of one made by
   * `cairn init` in `directory`: its client, and its config, whose signing key and anchors the
   * verification trusts (never what the bundle says about itself).
   */
  readonly server?: { readonly client: CairnClient; readonly baseUrl: string; readonly loaded: LoadedServerConfig };
  /**
   * Called once the story is told, while the demo's own server still serves (`cairn demo
   * --keep-serving`): it returns when the server may stop. With the dashboard's address and the
   * operator's token to sign in with. Not with `server` (that one serves on by itself).
   */
  readonly keepServing?: (serving: { readonly result: DemoResult; readonly operatorToken: string }) => Promise<void>;
}

/** What `cairn demo --json` prints. */
export interface DemoResult {
  readonly directory: string;
  /** The dashboard of the server the demo ran on: `<server>/dashboard/` (the demo's own serves only while it runs, or until Ctrl-C with --keep-serving). */
  readonly dashboard: string;
  /** How the items were isolated: a bubblewrap sandbox, none (development), or a Fargate task's container. */
  readonly sandbox: 'bubblewrap' | 'none' | 'container';
  /** The first run: it did the work, and its evidence is what is verified. */
  readonly runId: string;
  readonly state: RunView['state'];
  /** The same run submitted again. */
  readonly againRunId: string;
  readonly againState: RunView['state'];
  readonly patches: readonly { readonly itemId: string; readonly files: readonly PatchFileStat[] }[];
  /** The pure item of the second run, reused from the first's result without running. */
  readonly reusedItem: {
    readonly itemId: string;
    readonly runId: string;
    readonly from: { readonly runId: string; readonly itemId: string; readonly attempt: number };
  } | null;
  /** The evidence bundle of the first run, as written. */
  readonly bundle: string;
  /** The signing key the verification pinned. */
  readonly trustedKeyId: string;
  readonly verify: VerificationReport;
}

/**
 * `cairn demo`: what a user would do, in one process. `cairn init` a fresh directory, compose the
 * server from that config and serve its HTTP API on a loopback port, then, through the client:
 * snapshot the sample repository (a git repo), submit the sample run, follow it live, approve the
 * gated item, print each patch's stat, submit it again (its pure check is reused, not run), and
 * download the first run's evidence bundle and verify it with the signing key pinned and the
 * anchor read live. Deterministic and offline: every item is a `command` over the sample.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { say } = options;
  const directory = options.directory === undefined ? mkdtempSync(join(tmpdir(), 'cairn-demo-')) : resolve(options.directory);
  // Sandboxes start as their own unprivileged uids and must pass through to their workspaces.
  if (!existsSync(directory)) mkdirSync(directory, { recursive: true, mode: 0o711 });
  else if (options.directory === undefined) chmodSync(directory, 0o711);
  if (options.server) {
    const { client, baseUrl, loaded } = options.server;
    say(`$ cairn serve   (already running on ${baseUrl}, from ${loaded.file})`);
    say(`dashboard at ${dashboardOf(baseUrl)}`);
    const keyId = (await serverSigningKey(loaded)).keyId;
    say(`signing key ${keyId}`);
    return demoStory({
      ...options,
      directory,
      cairn: client,
      loaded,
      keyId,
      dashboard: dashboardOf(baseUrl),
      sandbox: loaded.config.executor.kind === 'local' ? loaded.config.executor.sandbox : 'container',
    });
  }

  say(`$ cairn init ${directory}`);
  const init = await initServer(directory);
  say(`signing key ${init.keyId}`);
  const sandboxed = existsSync('/usr/bin/bwrap') && process.getuid?.() === 0;
  if (!sandboxed)
    options.warn(
      'warning: bubblewrap needs root and /usr/bin/bwrap: this demo runs its items WITHOUT a sandbox (sandbox: none), and every signed manifest says so',
    );
  const loaded = loadServerConfig({ directory, env: sandboxed ? {} : { CAIRN_SANDBOX: 'none' } });
  const composition = await composeServer(loaded);
  const app = await buildHttpApi({ composition, ...httpApiSettingsOf(loaded.config.server), host: '127.0.0.1' });
  composition.start();
  try {
    const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    say(`$ cairn serve   (in this process, on ${baseUrl}; sandbox: ${sandboxed ? 'bubblewrap' : 'none'})`);
    const dashboard = dashboardOf(baseUrl);
    say(`dashboard at ${dashboard}${options.keepServing ? '' : ' (while the demo runs; --keep-serving keeps it up after)'}`);
    const cairn = createCairnClient({ baseUrl, token: init.operatorToken });
    const result = await demoStory({ ...options, directory, cairn, loaded, keyId: init.keyId, dashboard, sandbox: sandboxed ? 'bubblewrap' : 'none' });
    if (options.keepServing) await options.keepServing({ result, operatorToken: init.operatorToken });
    return result;
  } finally {
    await app.close();
    await composition.close();
  }
}

/** The dashboard's address on a server (served by every `cairn serve` at `/dashboard/`). */
function dashboardOf(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/dashboard/`;
}

interface DemoStory extends DemoOptions {
  readonly directory: string;
  readonly cairn: CairnClient;
  readonly loaded: LoadedServerConfig;
  readonly keyId: string;
  readonly dashboard: string;
  readonly sandbox: DemoResult['sandbox'];
}

/** The demo's runs through the API of a server: the sample submitted twice, its patches, its evidence verified. */
async function demoStory(options: DemoStory): Promise<DemoResult> {
  const { say, directory, cairn, loaded, keyId } = options;
  const files = demoFiles();
  const repository = join(directory, 'sample-repo');
  cpSync(files.sampleRepository, repository, { recursive: true });
  commitAll(repository);
  const snapshot = await cairn.uploadWorkspace(repository);
  const digest = snapshot.digest;
  const spec: RunSpecV1 = { ...loadRunSpec(readFileSync(files.runSpec, 'utf8'), { source: files.runSpec }).spec, workspace: { snapshot: digest } };
  say('');
  say(`$ cairn submit run.yaml --workspace ${repository} --wait`);
  say(`workspace: ${snapshot.entries} files, ${digest}`);

  const first = await submitAndFollow(cairn, spec, options);
  const bytes = await cairn.bundle(first.runId);
  say('');
  say('patches (stored by digest; what a reviewer reads, `cairn patch RUN ITEM | git apply`):');
  const patches = await patchesOf(cairn, first.runId, entriesOf(bytes), say);

  say('');
  say('$ cairn submit run.yaml --workspace ... --wait   (the same run again)');
  const again = await submitAndFollow(cairn, spec, options);
  const reusedEntry = entriesOf(await cairn.bundle(again.runId)).find((entry) => entry.action === 'item.reused');
  const reusedItem = reusedEntry
    ? {
        itemId: reusedEntry.entity.id.slice(again.runId.length + 1),
        runId: again.runId,
        from: reusedEntry.data['from'] as { runId: string; itemId: string; attempt: number },
      }
    : null;
  if (reusedItem)
    say(`${reusedItem.itemId} did not run again: its inputs had the same digest, so run ${reusedItem.from.runId}'s result was reused (audited as item.reused)`);

  const bundle = join(directory, `${first.runId}.bundle.json`);
  writeFileSync(bundle, bytes);
  say('');
  say(`evidence bundle of run ${first.runId} (GET /v1/runs/${first.runId}/bundle) written to ${bundle}; the server's data and the sample are in ${directory}`);
  // The key pinned at init and the anchors of the demo server's own config: what a verifier
  // trusts, never what the bundle says about itself.
  const anchors = serverAnchors(loaded);
  const verify = await verifyEvidence(bytes, { trustedKeyIds: [keyId], anchors, trustedTsaCertificates: serverTsaCertificates(loaded) });
  say('');
  // The anchors are the config's: `--config` names them in a form any anchor kind can be read back from.
  // A config whose only anchors are TSAs has nothing to read live: then the command is offline.
  say(`$ cairn verify ${bundle} --trusted-key ${keyId}${anchors.length > 0 ? ' --online' : ''} --config ${loaded.file}`);
  for (const line of formatVerificationReport(verify)) say(line);
  return {
    directory,
    dashboard: options.dashboard,
    sandbox: options.sandbox,
    runId: first.runId,
    state: first.state,
    againRunId: again.runId,
    againState: again.state,
    patches,
    reusedItem,
    bundle,
    trustedKeyId: keyId,
    verify,
  };
}

/**
 * Submits the run and follows it live to its end, approving (as the operator) what waits for
 * approval. The event stream replays the run from its start, so an item that asked for approval
 * before the stream opened is still seen.
 */
async function submitAndFollow(cairn: CairnClient, spec: RunSpecV1, options: DemoOptions): Promise<RunView> {
  const { runId } = await cairn.submit(spec);
  options.say(`run ${runId}`);
  const progress = new RunProgress(await cairn.items(runId), options.progress);
  const approved = new Set<string>();
  const stop = new AbortController();
  const approvals: Promise<unknown>[] = [];
  let approvalFailed: unknown;
  const approve = (itemId: string) => {
    if (approved.has(itemId)) return;
    approved.add(itemId);
    approvals.push(
      cairn.approve(runId, itemId).then(
        () => progress.note(`  ${itemId.padEnd(16)} was awaiting approval: approved by the operator`),
        (error: unknown) => {
          // The run would wait forever for this approval: stop following it and say why.
          approvalFailed = error;
          stop.abort();
        },
      ),
    );
  };
  const run = await cairn.waitForRun(runId, {
    signal: stop.signal,
    onEvent: (event) => {
      progress.onEvent(event);
      if (event.type === 'item.state' && event.state === 'awaiting-approval') approve(event.itemId);
    },
  });
  await Promise.all(approvals);
  progress.done();
  if (approvalFailed !== undefined) throw approvalFailed;
  options.say(`run ${run.state}: ${run.itemsFinished}/${run.itemsTotal} items finished, ${run.itemsFailed} failed`);
  if (run.itemsFailed > 0) for (const line of failureLines(await cairn.items(runId))) options.say(line);
  return run;
}

/** Each succeeded item's patch as a stat; an item that changed nothing shows what it printed (its stdout, by digest). */
async function patchesOf(cairn: CairnClient, runId: string, entries: readonly AuditEntry[], say: (line: string) => void): Promise<DemoResult['patches']> {
  const patches: { itemId: string; files: PatchFileStat[] }[] = [];
  for (const item of await cairn.items(runId)) {
    if (item.state !== 'succeeded') continue;
    let text: string;
    try {
      text = await cairn.patch(runId, item.itemId);
    } catch (error) {
      if (!isCairnError(error, 'CAIRN_NOT_FOUND')) throw error;
      const completed = entries.find((entry) => entry.action === 'attempt.completed' && entry.data['itemId'] === item.itemId);
      const stdout = (completed?.data['artifacts'] as { stdout?: string } | undefined)?.stdout;
      const said =
        stdout === undefined
          ? ''
          : new TextDecoder()
              .decode(await cairn.blob(stdout))
              .trim()
              .split('\n')
              .join(' | ');
      say(`  ${item.itemId.padEnd(16)} no change; it said: ${said}`);
      continue;
    }
    const files = patchStat(text);
    patches.push({ itemId: item.itemId, files });
    for (const file of files) say(`  ${item.itemId.padEnd(16)} ${file.path.padEnd(16)} | ${file.binary ? 'binary' : `+${file.added} -${file.removed}`}`);
  }
  return patches;
}

/** The audit entries of an evidence bundle (its JSON), to read what happened in a run. */
function entriesOf(bundle: Uint8Array): AuditEntry[] {
  return (JSON.parse(new TextDecoder().decode(bundle)) as { entries: AuditEntry[] }).entries;
}

/** Makes the copied sample a git repository with one commit: the snapshot is its tree. */
function commitAll(repository: string): void {
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=cairn demo', '-c', 'user.email=demo@example.invalid', ...args], {
      cwd: repository,
      stdio: 'ignore',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
    });
  git('init', '--quiet');
  git('add', '--all');
  git('commit', '--quiet', '-m', 'sample');
}
