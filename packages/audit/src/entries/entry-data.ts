import type { AuditEntry, BundleArtifactKind, Digest, ModelCallData } from '@cairn/core';
import { isDigest, modelCallDataSchema } from '@cairn/protocol';

/**
 * What the `data` of the entries a bundle relies on holds. The engine writes them; the bundle
 * builder and verifier read them through these functions, which return undefined for anything
 * that does not have the documented shape (docs/audit/formats.md).
 */

/** `run.submitted`: `{ specDigest }`. */
export function submittedSpecDigest(entry: AuditEntry): Digest | undefined {
  const value = entry.data['specDigest'];
  return entry.action === 'run.submitted' && isDigest(value) ? value : undefined;
}

/** `attempt.dispatched`: `{ itemId, attempt, manifestDigest }`. */
export function dispatchedManifest(entry: AuditEntry): { itemId: string; attempt: number; manifestDigest: Digest } | undefined {
  if (entry.action !== 'attempt.dispatched') return undefined;
  const { itemId, attempt, manifestDigest } = entry.data;
  if (typeof itemId !== 'string' || !Number.isSafeInteger(attempt) || !isDigest(manifestDigest)) return undefined;
  return { itemId, attempt: attempt as number, manifestDigest };
}

/** `attempt.completed`: `{ itemId, attempt, outcome, artifacts: { patch?, stdout, stderr, output?, egress?, environmentLog?, environmentEgress? } }`. */
export function completedArtifacts(
  entry: AuditEntry,
): { itemId: string; attempt: number; artifacts: { kind: BundleArtifactKind; digest: Digest }[] } | undefined {
  if (entry.action !== 'attempt.completed') return undefined;
  const { itemId, attempt, artifacts } = entry.data;
  if (typeof itemId !== 'string' || !Number.isSafeInteger(attempt) || typeof artifacts !== 'object' || artifacts === null || Array.isArray(artifacts))
    return undefined;
  const listed: { kind: BundleArtifactKind; digest: Digest }[] = [];
  for (const kind of ['patch', 'stdout', 'stderr', 'output', 'egress'] as const) {
    const digest = artifacts[kind];
    if (isDigest(digest)) listed.push({ kind, digest });
  }
  // The environment setup's log (ADR 0056): named in camel case in the result, as a kind in the bundle.
  const environmentLog = artifacts['environmentLog'];
  if (isDigest(environmentLog)) listed.push({ kind: 'environment-log', digest: environmentLog });
  const environmentEgress = artifacts['environmentEgress'];
  if (isDigest(environmentEgress)) listed.push({ kind: 'environment-egress', digest: environmentEgress });
  return { itemId, attempt: attempt as number, artifacts: listed };
}

/**
 * `model.called`: the data of one model call through the gateway (`ModelCallData`), or undefined
 * for another action or data that does not have the documented shape (`modelCallDataProblem`
 * says what is wrong with it).
 */
export function modelCallData(entry: AuditEntry): ModelCallData | undefined {
  if (entry.action !== 'model.called') return undefined;
  const parsed = modelCallDataSchema.safeParse(entry.data);
  return parsed.success ? parsed.data : undefined;
}

/** What is wrong with a `model.called` entry's data, as `<member>: <problem>`; undefined when it is well formed (or another action). */
export function modelCallDataProblem(entry: AuditEntry): string | undefined {
  if (entry.action !== 'model.called') return undefined;
  const parsed = modelCallDataSchema.safeParse(entry.data);
  if (parsed.success) return undefined;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') return `${issue.keys[0]}: is not a member the format defines`;
  return `${issue.path.map(String).join('.')}: ${issue.message}`;
}

/** `model.called`: the request body and, when there was one, the response body, by digest. */
export function modelCallArtifacts(
  entry: AuditEntry,
): { itemId: string; attempt: number; artifacts: { kind: 'model-request' | 'model-response'; digest: Digest }[] } | undefined {
  const data = modelCallData(entry);
  return data && { itemId: data.itemId, attempt: data.attempt, artifacts: modelCallBodies(data) };
}

/** The bodies a model call's data names, by digest. */
export function modelCallBodies(data: ModelCallData): { kind: 'model-request' | 'model-response'; digest: Digest }[] {
  const bodies: { kind: 'model-request' | 'model-response'; digest: Digest }[] = [{ kind: 'model-request', digest: data.request }];
  if (data.response !== undefined) bodies.push({ kind: 'model-response', digest: data.response });
  return bodies;
}

/** The metered figures of one model call, as the gateway recorded them: an absent member is unknown. */
export type ModelCallUsage = Pick<ModelCallData, 'inputTokens' | 'outputTokens' | 'cacheReadTokens' | 'cacheWriteTokens' | 'costUsd'>;

/** `model.called`: its usage and cost, for summing (absent members unknown, never zero). */
export function modelCallUsage(entry: AuditEntry): ModelCallUsage | undefined {
  const data = modelCallData(entry);
  if (!data) return undefined;
  const { inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, costUsd } = data;
  return {
    ...(inputTokens === undefined ? {} : { inputTokens }),
    ...(outputTokens === undefined ? {} : { outputTokens }),
    ...(cacheReadTokens === undefined ? {} : { cacheReadTokens }),
    ...(cacheWriteTokens === undefined ? {} : { cacheWriteTokens }),
    ...(costUsd === undefined ? {} : { costUsd }),
  };
}

/** Whether an entry ends its run. */
export function isTerminalRunEntry(entry: AuditEntry): boolean {
  return entry.action === 'run.succeeded' || entry.action === 'run.failed' || entry.action === 'run.cancelled';
}
