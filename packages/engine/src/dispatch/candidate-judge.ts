import type { AuditEntry, DispatchManifest, ItemSpec, ManifestInput, StorageProviderV1, TaskGateway } from '@cairn/core';
import { recordedCandidateOf, type RecordedCandidate } from '@cairn/audit';
import { blobKey, canonicalJsonBytes, parseDuration, parsePayload, resultKey, resultRecordSchema, sha256Digest } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import type { RunStore } from '../store/sqlite/run-store.ts';
import type { CandidateItemSpec } from './candidate-drafts.ts';
import type { DraftedDispatch } from './prepared-dispatch.ts';

/** The judge's input that lists the passing candidates, their check output tails and their patch files. */
export const judgeCandidatesInput = 'candidates.json';

/** A judge's timeout when `select.judge.timeout` gives none: a check's default. */
const defaultJudgeTimeoutMs = 600_000;

/** The most of a judge's stdout the engine reads: its answer is its last line, not its transcript. */
export const judgeStdoutTailBytes = 8_192;

/** An empty workspace: the judge reads the candidates' patches, it is given no files to change. */
const emptyWorkspace = sha256Digest('');

/** A round's `candidate.checked` entries, in log order, each with the patch it names. */
export function roundCandidates(audit: AuditLog, runId: string, itemId: string, round: number): (RecordedCandidate & { readonly patch: string | null })[] {
  return audit
    .runEntriesAfter(runId, -1, Number.MAX_SAFE_INTEGER, ['candidate.checked'])
    .map((entry: AuditEntry) => ({ ...recordedCandidateOf(entry), patch: typeof entry.data['patch'] === 'string' ? entry.data['patch'] : null }))
    .filter((candidate) => candidate.itemId === itemId && candidate.round === round);
}

/**
 * The round an attempt judges, or undefined when it is a candidate (ADR 0053). A round's judge is
 * the attempt after its last candidate, r·N+1, dispatched only when the item declares a judge and
 * two or more of the round passed: such a round is decided once the judge has ended (the item
 * succeeds), so no round r+1 ever takes that number. A round with fewer passes goes on to round
 * r+1, whose first candidate is r·N+1 — told apart by the passes of round r.
 */
export function judgedRound(attempt: number, spec: CandidateItemSpec, passesOf: (round: number) => number): number | undefined {
  const count = spec.candidates.count;
  if (spec.select.judge === undefined || attempt <= count || (attempt - 1) % count !== 0) return undefined;
  const round = (attempt - 1) / count;
  return passesOf(round) >= 2 ? round : undefined;
}

/**
 * Whether an ended attempt's stdout tail is read with its result: it may be a judge (its item
 * declares one and the attempt is the first after a round). A next round's first candidate
 * matches too, and pays one bounded read; every other attempt pays nothing.
 */
export function judgeStdoutWanted(runs: RunStore, runId: string, itemId: string, attempt: number): () => boolean {
  return () => {
    const stored = runs.itemSpec(runId, itemId)?.spec;
    if (stored === undefined || !stored.includes('"judge":{')) return false;
    const spec = JSON.parse(stored) as ItemSpec;
    const count = spec.candidates?.count;
    return count !== undefined && attempt > count && (attempt - 1) % count === 0;
  };
}

/**
 * The judge's dispatch (ADR 0053), from the draft of the item's next attempt: the judge's agent
 * runtime over an empty workspace, with no network and none of the item's secrets; its inputs are
 * each passing candidate's patch (`candidate-<n>.patch`) and `candidates.json`, which lists them
 * with their check's exit code, score and the tail of its output, read from their result records —
 * never a transcript, log or environment of a candidate. It has a gateway credential of its own,
 * within the item's budget.
 */
export async function judgeDraft(
  base: DraftedDispatch,
  spec: CandidateItemSpec,
  round: number,
  candidates: readonly (RecordedCandidate & { readonly patch: string | null })[],
  storage: StorageProviderV1,
  issueGateway: (spec: ItemSpec, timeoutMs: number) => TaskGateway | undefined,
): Promise<DraftedDispatch> {
  const judge = spec.select.judge!;
  const passing = candidates.filter((candidate) => candidate.passed && candidate.patch !== null).sort((a, b) => a.candidate - b.candidate);
  const inputs: Record<string, ManifestInput> = {};
  const listed = await Promise.all(
    passing.map(async (candidate) => {
      const file = `candidate-${candidate.candidate}.patch`;
      inputs[file] = { from: base.itemId, select: 'patch', digest: candidate.patch as ManifestInput['digest'] };
      return {
        candidate: candidate.candidate,
        attempt: candidate.attempt,
        patch: file,
        patchBytes: candidate.patchBytes,
        score: candidate.score,
        checkExitCode: candidate.check?.exitCode ?? null,
        checkTail: await checkTailOf(storage, `${base.runId}/${base.itemId}/${candidate.attempt}`),
      };
    }),
  );
  const listing = canonicalJsonBytes({
    version: 'cairn.judge-candidates/v1',
    itemId: base.itemId,
    round,
    answer: 'Print as your last output line one JSON object: {"candidate": <n>, "reason": "<why>"}, n one of the candidates below.',
    candidates: listed,
  });
  const digest = sha256Digest(listing);
  await storage.put(blobKey(digest), listing, { ifAbsent: true, contentType: 'application/json' });
  inputs[judgeCandidatesInput] = { from: base.itemId, select: 'output', digest };
  const timeoutMs = judge.timeout === undefined ? defaultJudgeTimeoutMs : parseDuration(judge.timeout);
  const env = judge.env ?? {};
  // Members in code-unit order, as the drafter writes a manifest.
  const manifest: DispatchManifest = {
    apply: [],
    attempt: base.attempt,
    effect: 'read-impure',
    env,
    executionId: base.executionId,
    fencingToken: base.attempt,
    inputs,
    issuedAt: base.manifest.issuedAt,
    itemId: base.itemId,
    limits: { ...base.manifest.limits, network: false, timeoutMs },
    runId: base.runId,
    runtime: judge.runtime,
    secretNames: [],
    version: 'cairn.manifest/v1',
    workspace: emptyWorkspace,
  };
  const { gateway: _gateway, secrets: _secrets, secretVersions: _versions, ...rest } = base;
  const { secrets: _declared, ...judgeSpec } = spec;
  const gateway = issueGateway({ ...judgeSpec, runtime: judge.runtime, env }, timeoutMs);
  return { ...rest, manifest, timeoutMs, inputDigest: null, ...(gateway === undefined ? {} : { gateway }) };
}

/** The end of a candidate's check output, from its result record; empty when there is none to read. */
async function checkTailOf(storage: StorageProviderV1, executionId: string): Promise<string> {
  const bytes = await storage.get(resultKey(executionId));
  if (bytes === null) return '';
  try {
    return parsePayload(resultRecordSchema, JSON.parse(new TextDecoder().decode(bytes)), 'result record').check?.tail ?? '';
  } catch {
    return '';
  }
}
