import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { blobKey, isCairnError, sha256Digest } from '@cairn/protocol';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import { composeServer, probeOf, type KeyProbeReport } from '../composition/compose-server.ts';
import { diagnoseNetwork } from './diagnose-network.ts';
import { diagnoseRunners } from './diagnose-runners.ts';
import { diagnoseRuntimes } from './diagnose-runtimes.ts';
import { diagnoseStateStore } from './diagnose-state.ts';
import { sandboxReachRefusal, workRootOption } from './sandbox-reach.ts';

/** One finding of `cairn doctor`. */
export interface Diagnosis {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
  /** What to do, when it failed. */
  readonly fix?: string;
}

/**
 * Checks that the configured composition can run work: the sandbox and git are there, the keys
 * load, storage takes a write and gives it back, the engine's state store is sound (`diagnose-state.ts`:
 * SQLite's quick_check; PostgreSQL's connection, schema version, writer lease and session settings),
 * the engine opens its state, and each configured
 * agent runtime has its program and API key secret (no model is called). With S3: each bucket
 * answers, storage enforces conditional writes and encrypts, an anchor bucket has Object Lock,
 * versioning and a live retention (`diagnose-s3.ts`). With a fargate executor: ECS answers for
 * the cluster (`diagnose-fargate.ts`); with a kubernetes one, the API server for the namespace
 * (`diagnose-kubernetes.ts`). Each finding says what to do when it
 * failed; nothing is changed but a probe blob written and removed (and what the S3 seams' probes
 * write, which they document).
 */
export async function diagnoseServer(loaded: LoadedServerConfig): Promise<Diagnosis[]> {
  const findings: Diagnosis[] = [];
  const note = (check: string, ok: boolean, detail: string, fix?: string) => findings.push({ check, ok, detail, ...(ok || fix === undefined ? {} : { fix }) });
  const { executor } = loaded.config;
  if (executor.kind === 'fargate') {
    // Tasks run in ECS: their containers are the sandbox, nothing of this machine's is needed for them.
    note('sandbox', true, `tasks run as ECS Fargate tasks of ${executor.taskDefinition} in cluster ${executor.cluster}: each task's container is its sandbox`);
  } else if (executor.kind === 'kubernetes') {
    // Attempts run as pods: their containers (and a RuntimeClass, where the template names one) are the sandbox.
    note(
      'sandbox',
      true,
      `attempts run as pods of ${executor.image} in namespace ${executor.namespace}: each pod's container is its sandbox${typeof executor.podTemplate['runtimeClassName'] === 'string' ? `, under RuntimeClass ${executor.podTemplate['runtimeClassName']}` : ''}`,
    );
  } else if (executor.sandbox === 'bubblewrap') {
    const bwrap = existsSync('/usr/bin/bwrap');
    note('bubblewrap', bwrap, bwrap ? '/usr/bin/bwrap' : 'not installed', 'apt-get install -y bubblewrap (or executor.sandbox: none, for development only)');
    const unreachable = sandboxReachRefusal(loaded.paths.work, workRootOption(loaded));
    note(
      'work directory',
      unreachable === undefined,
      unreachable === undefined ? `${loaded.paths.work} is reachable by sandbox uids` : unreachable.message,
      `${String(unreachable?.details['chmod'])} (sandboxes start as their own uids and must reach their workspaces; cairn serve refuses to start until they can)`,
    );
    const root = process.getuid?.() === 0;
    note(
      'sandbox uids',
      root,
      root ? 'running as root: each sandbox gets its own unprivileged uid' : `running as uid ${process.getuid?.()}`,
      'run the server as root, so sandboxes can switch to their own uids',
    );
    if (executor.snapshotCache?.enabled === false) {
      note(
        'workspace layers',
        true,
        'off (executor.snapshotCache.enabled: false): every attempt extracts its snapshot, at a cost that grows with the workspace',
      );
    } else {
      const { workspaceLayersProblem } = await import('@cairn/local');
      const problem = await workspaceLayersProblem(loaded.paths.work);
      note(
        'workspace layers',
        problem === undefined,
        problem === undefined
          ? `a workspace laid over a cached snapshot in ${loaded.paths.work} (an overlay over an idmapped mount): each attempt's preparation costs the same whatever the workspace's size`
          : `cannot lay a workspace over a cached snapshot here: ${problem}; every attempt extracts its snapshot, at a cost that grows with the workspace`,
        'run the server as root on Linux 5.12 or later with overlayfs (modprobe overlay) and perl, or set executor.snapshotCache.enabled: false to accept the slower path',
      );
    }
  } else {
    note('sandbox', false, "executor.sandbox is 'none': tasks run WITHOUT isolation", 'set executor.sandbox: bubblewrap outside development');
  }
  const git = spawnSync('git', ['--version'], { encoding: 'utf8' });
  note('git', git.status === 0, git.status === 0 ? git.stdout.trim() : 'not found', 'apt-get install -y git');
  diagnoseNetwork(executor, note);
  // Before composing, which builds the executor from the same kubeconfig: one that does not load gets its own finding.
  if (executor.kind === 'kubernetes') await (await import('./diagnose-kubernetes.ts')).diagnoseKubernetes(executor, loaded.paths, note);
  // Before composing: composing a PostgreSQL server applies missing schema steps, and a store that
  // cannot be reached would only fail the composition again without saying more.
  const state = await diagnoseStateStore(loaded, note);
  if (!state.reachable) return findings;
  let composition;
  try {
    // Not probed while composing: the S3 checks below run each part of the probes as a finding of its own.
    composition = await composeServer(loaded, { probe: false });
    note('keys', true, `signing key ${composition.signingKey.keyId}; cipher key loads`);
    await diagnoseRunners(loaded.config, composition.tokens, note);
    // A KMS signer or cipher: each permission and the key's type, checked against KMS, each with its fix.
    for (const [seam, instance] of [
      ['signer', composition.signer],
      ['cipher', composition.cipher],
    ] as const) {
      const report = (await probeOf(instance)?.()) as KeyProbeReport | undefined;
      for (const check of report?.checks ?? [])
        note(
          `${seam} ${check.name}`,
          check.status !== 'fail',
          `${report!.key}: ${check.status === 'skipped' ? `not checked (${check.detail})` : check.detail}`,
          check.fix,
        );
    }
  } catch (error) {
    note(
      'composition',
      false,
      isCairnError(error) ? `${error.code}: ${error.message}` : String(error),
      'fix the option named above (cairn init writes a working config and keys)',
    );
    return findings;
  }
  // Read while the engine is open; the runtimes are checked once it is closed again.
  const secretNames = (await composition.service.secrets()).map((secret) => secret.name);
  const { config } = loaded;
  // The S3 checks (and the AWS SDK) are loaded only for a config that names S3.
  const s3 = config.storage.kind === 's3' || config.anchors.some((anchor) => anchor.kind === 's3-object-lock') ? await import('./diagnose-s3.ts') : undefined;
  const storagePlace = config.storage.kind === 's3' ? s3!.describeLocation(config.storage) : loaded.paths.storage!;
  const storageFix =
    config.storage.kind === 's3'
      ? 'give the identity s3:PutObject, s3:GetObject and s3:DeleteObject on the prefix'
      : 'make the storage directory writable by the server';
  try {
    const reachable = config.storage.kind === 's3' ? await s3!.diagnoseS3Storage(config.storage, probeOf(composition.storage), note) : true;
    for (const [index, anchor] of config.anchors.entries()) if (anchor.kind === 's3-object-lock') await s3!.diagnoseS3Anchor(anchor, index, note);
    if (executor.kind === 'fargate') await (await import('./diagnose-fargate.ts')).diagnoseFargate(executor, note);
    for (const [index, anchor] of config.anchors.entries())
      if (anchor.kind === 'rfc3161') await (await import('./diagnose-tsa.ts')).diagnoseTsa(composition.anchors[index]!, index, note);
    if (reachable) {
      const probe = new TextEncoder().encode(`cairn doctor ${Date.now()}`);
      const key = blobKey(sha256Digest(probe));
      await composition.storage.put(key, probe);
      const back = await composition.storage.get(key);
      await composition.storage.delete(key);
      note(
        'storage',
        back !== null && Buffer.compare(Buffer.from(back), Buffer.from(probe)) === 0,
        `${storagePlace}: a blob written, read back and removed`,
        storageFix,
      );
    }
    const stateName = config.engine.state.kind === 'postgres' ? `PostgreSQL schema "${config.engine.state.schema}"` : loaded.paths.database;
    note('database', true, `${stateName} (audit log: ${await composition.service.auditSize()} entries)`);
  } catch (error) {
    note('storage', false, isCairnError(error) ? `${error.code}: ${error.message}` : String(error), storageFix);
  } finally {
    await composition.close();
  }
  const runtimes = diagnoseRuntimes(loaded.config.runtimes, secretNames, executor.kind === 'local' ? executor.sandbox : 'none', loaded.config.gateway);
  // With SQLite, `cairn secret set` in this folder works before the first start; PostgreSQL
  // replicas store a secret only through the one running the engine: the fix says the order.
  findings.push(
    ...(config.engine.state.kind === 'postgres'
      ? runtimes.map((finding) =>
          finding.fix?.startsWith('cairn secret set')
            ? {
                ...finding,
                fix: `${finding.fix}, through a running replica: start one first (cairn serve), then set it from this folder with a token (CAIRN_TOKEN)`,
              }
            : finding,
        )
      : runtimes),
  );
  return findings;
}
