import type { DispatchManifest, ItemSpec, ManifestInput, RuntimeSpec, StorageProviderV1, TaskGateway } from '@cairn/core';
import { blobKey, canonicalJsonBytes, parseDuration, parsePayload, resultKey, resultRecordSchema, sha256Digest } from '@cairn/protocol';
import { candidatePlace } from './candidate-rounds.ts';
import type { DraftedDispatch } from './prepared-dispatch.ts';

/** An item with candidates, as its spec was validated at submit (`select` comes with `candidates`). */
export type CandidateItemSpec = ItemSpec & { readonly candidates: NonNullable<ItemSpec['candidates']>; readonly select: NonNullable<ItemSpec['select']> };

/** The name of the input a retried round's candidates get: the round before's summary (ADR 0053). */
export const previousCandidatesInput = 'previous-candidates';

/** A check's timeout when `select.check.timeout` gives none. */
const defaultCheckTimeoutMs = 600_000;

/**
 * A round of candidates from the draft of an item's next attempt (ADR 0053): `count` drafts,
 * attempts `base.attempt` on, each the item's runtime changed by its `vary` entry, each naming its
 * place (`candidate`) and the check its patch goes through, and each with a gateway credential of
 * its own, issued for the runtime it runs (a varied model is priced and budgeted as itself).
 * `previous`, for a retried round, is the summary of the round before, an input of every candidate.
 */
export function candidateDrafts(
  base: DraftedDispatch,
  spec: CandidateItemSpec,
  issueGateway: (attempt: number, executionId: string, spec: ItemSpec) => TaskGateway | undefined,
  previous: ManifestInput | undefined,
): DraftedDispatch[] {
  const { count, vary = [] } = spec.candidates;
  const check = { argv: spec.select.check.argv, timeoutMs: spec.select.check.timeout ? parseDuration(spec.select.check.timeout) : defaultCheckTimeoutMs };
  return Array.from({ length: count }, (_, position) => {
    const attempt = base.attempt + position;
    const executionId = `${base.runId}/${base.itemId}/${attempt}`;
    const variation = vary[position] ?? {};
    const runtime = variedRuntime(spec.runtime, variation);
    const env = { ...base.manifest.env, ...variation.env };
    const inputs = previous === undefined ? base.manifest.inputs : { ...base.manifest.inputs, [previousCandidatesInput]: previous };
    const { round, index } = candidatePlace(attempt, count);
    // Members in code-unit order, as the drafter writes a manifest (canonical JSON as it stands).
    const manifest: DispatchManifest = {
      apply: base.manifest.apply,
      attempt,
      candidate: { check, index, of: count, round },
      effect: base.manifest.effect,
      env,
      executionId,
      fencingToken: attempt,
      inputs,
      issuedAt: base.manifest.issuedAt,
      itemId: base.itemId,
      limits: base.manifest.limits,
      runId: base.runId,
      runtime,
      secretNames: base.manifest.secretNames,
      version: 'cairn.manifest/v1',
      workspace: base.manifest.workspace,
    };
    const gateway = issueGateway(attempt, executionId, { ...spec, runtime, env });
    const { gateway: _baseGateway, ...rest } = base;
    return { ...rest, manifest, attempt, executionId, candidate: manifest.candidate!, ...(gateway === undefined ? {} : { gateway }) };
  });
}

function variedRuntime(runtime: RuntimeSpec, variation: NonNullable<CandidateItemSpec['candidates']['vary']>[number]): RuntimeSpec {
  if (runtime.kind === 'agent') {
    return {
      ...runtime,
      ...(variation.prompt === undefined ? {} : { prompt: variation.prompt }),
      ...(variation.model === undefined ? {} : { model: variation.model }),
    };
  }
  if (runtime.kind === 'command' && variation.argv !== undefined) return { ...runtime, argv: variation.argv };
  return runtime;
}

/**
 * The summary a retried round's candidates are given (ADR 0053): the round before, candidate by
 * candidate — how its attempt ended, its failure, its check's verdict, score and the end of its
 * output — read from their result records and stored by digest as JSON. A fresh start with what
 * went wrong, never the transcript. Undefined for a first round.
 */
export async function previousCandidates(
  storage: StorageProviderV1,
  item: { readonly runId: string; readonly itemId: string },
  firstAttempt: number,
  count: number,
): Promise<ManifestInput | undefined> {
  const { round } = candidatePlace(firstAttempt, count);
  if (round === 1) return undefined;
  const before = firstAttempt - count;
  const candidates = await Promise.all(
    Array.from({ length: count }, async (_, position) => {
      const attempt = before + position;
      const bytes = await storage.get(resultKey(`${item.runId}/${item.itemId}/${attempt}`));
      const base = { candidate: position + 1, attempt };
      if (bytes === null) return { ...base, outcome: 'no result (it did not start, was lost or cancelled)' };
      try {
        const record = parsePayload(resultRecordSchema, JSON.parse(new TextDecoder().decode(bytes)), 'result record');
        return {
          ...base,
          outcome: record.outcome,
          ...(record.failure ? { failure: { code: record.failure.code, message: record.failure.message } } : {}),
          ...(record.patchStats ? { patchBytes: record.patchStats.bytes } : {}),
          ...(record.check ? { check: record.check } : {}),
        };
      } catch {
        return { ...base, outcome: 'an unreadable result' };
      }
    }),
  );
  const bytes = canonicalJsonBytes({ version: 'cairn.candidates-summary/v1', itemId: item.itemId, round: round - 1, candidates });
  const digest = sha256Digest(bytes);
  await storage.put(blobKey(digest), bytes, { ifAbsent: true, contentType: 'application/json' });
  return { from: item.itemId, select: 'output', digest };
}
