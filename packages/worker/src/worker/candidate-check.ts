import type { CandidateCheckResult, DispatchManifest, ManifestCandidate, RuntimeAdapterV1 } from '@cairn/core';
import type { AttemptMounts } from './attempt-mounts.ts';
import type { BlobStore } from './blob-store.ts';
import { prepareAttempt } from './prepare-attempt.ts';
import { runtimeEnvironment } from './runtime-environment.ts';
import type { WorkspaceLayers } from './workspace-layers.ts';

/** What a candidate's check needs: the candidate's manifest and patch, and where and with what to run. */
export interface CandidateCheckRun {
  readonly manifest: DispatchManifest & { readonly candidate: ManifestCandidate };
  readonly patch: Uint8Array;
  readonly blobs: BlobStore;
  readonly workRoot: string;
  readonly host: { readonly mounts?: AttemptMounts | undefined; readonly layers?: WorkspaceLayers | undefined };
  /** The `command` runtime adapter: the same sandbox a command item gets. */
  readonly runtime: RuntimeAdapterV1 | undefined;
  /** PATH the check gets, unless the item's env sets one. */
  readonly path: string;
  /** The attempt's cancel: a cancelled candidate's check stops too. */
  readonly signal: AbortSignal | undefined;
}

/** Characters of the check's output a result keeps, for the round's summary. */
const tailLength = 2_000;
/** Bytes of each stream kept while the check runs: enough for the tail and the last line. */
const keptBytes = 65_536;

/**
 * Runs a candidate's `select.check` (ADR 0053) over a workspace of its own: the candidate's
 * snapshot and inputs, prepared afresh, with the candidate's captured patch applied as anyone
 * applying it would (`git apply --index`), in a new sandbox through the `command` adapter. So the
 * check sees exactly the patch the candidate hands back, never what else the agent left in its
 * workspace (ignored files, processes). Exit 0 passes; a last stdout line that is a number is the
 * score. Never throws: a check that cannot run, or a patch that does not apply, fails the check,
 * saying why in its tail. The item's env reaches the check, its secrets do not: a check judges
 * a patch, it needs no credential of the agent's.
 */
export async function runCandidateCheck(run: CandidateCheckRun): Promise<CandidateCheckResult> {
  const { manifest, runtime } = run;
  const { check } = manifest.candidate;
  if (runtime === undefined) return failed('this worker has no `command` runtime adapter to run the check with; add it to worker.runtimes');
  let workspace;
  try {
    // Its own folder, labelled apart from the candidate's (which is still there until the attempt ends).
    workspace = await prepareAttempt({ ...manifest, itemId: `${manifest.itemId}-check` }, run.blobs, run.workRoot, run.host);
  } catch (error) {
    return failed(`could not prepare the check's workspace: ${(error as Error).message}`);
  }
  try {
    const applied = await workspace.applyPatch(run.patch);
    if (!applied.applied) return failed(`the candidate's patch does not apply to a fresh workspace: ${applied.message.split('\n')[0] ?? ''}`);
    const stdout = new KeptTail();
    const stderr = new KeptTail();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), check.timeoutMs);
    const cancel = () => controller.abort();
    run.signal?.addEventListener('abort', cancel, { once: true });
    try {
      const result = await runtime.run({
        workspace: workspace.workspace,
        spec: { kind: 'command', argv: [...check.argv] },
        env: runtimeEnvironment(workspace.workspace, run.path, manifest.env, {}),
        network: false,
        signal: controller.signal,
        sinks: { stdout: (chunk) => stdout.write(chunk), stderr: (chunk) => stderr.write(chunk) },
      });
      const output = `${stdout.text()}${stderr.text()}`;
      const why = result.aborted
        ? `\n[check] stopped: ${run.signal?.aborted ? 'the candidate was cancelled' : `no end within its timeout of ${check.timeoutMs} ms`}`
        : '';
      return {
        passed: !result.aborted && result.exitCode === 0,
        exitCode: result.aborted ? null : result.exitCode,
        score: scoreOf(stdout.text()),
        tail: `${output}${why}`.slice(-tailLength),
      };
    } finally {
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', cancel);
    }
  } catch (error) {
    return failed(`the check could not run: ${(error as Error).message}`);
  } finally {
    await workspace.remove().catch(() => undefined);
  }
}

/** The number on the last line of the check's stdout, when that line is one. */
export function scoreOf(stdout: string): number | null {
  const last = stdout.trimEnd().split('\n').at(-1)?.trim() ?? '';
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(last)) return null;
  const score = Number(last);
  return Number.isFinite(score) ? score : null;
}

function failed(reason: string): CandidateCheckResult {
  return { passed: false, exitCode: null, score: null, tail: `[check] ${reason}`.slice(-tailLength) };
}

/** The last `keptBytes` of a stream: a check's output may be long, its end is what is read. */
class KeptTail {
  #chunks: Buffer[] = [];
  #bytes = 0;

  write(chunk: Uint8Array): void {
    this.#chunks.push(Buffer.from(chunk));
    this.#bytes += chunk.length;
    while (this.#bytes > keptBytes && this.#chunks.length > 1) this.#bytes -= this.#chunks.shift()!.length;
  }

  text(): string {
    return Buffer.concat(this.#chunks).subarray(-keptBytes).toString('utf8');
  }
}
