import type { DispatchManifest, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { openManifest, type TrustedKey } from '@cairn/audit';
import { assertDigest, CairnError, dsseEnvelopeSchema, manifestKey, parsePayload } from '@cairn/protocol';

/** What was read of a task's manifest: the verified manifest, or why there is none and what it claimed. */
export type OpenedTaskManifest = { readonly manifest: DispatchManifest } | { readonly failure: CairnError; readonly unverified?: Partial<DispatchManifest> };

/**
 * Fetches the task's signed manifest from `manifests/<digest>`, checks that the stored bytes hash
 * to the digest the task names (CAIRN_DIGEST_MISMATCH), that the DSSE envelope verifies under a
 * trusted key (CAIRN_SIGNATURE_INVALID, also for a malformed envelope) and that the manifest is
 * for this very execution (CAIRN_PAYLOAD_INVALID). On failure it also returns what the payload
 * claims, unverified, so that the failure can be reported against the right attempt; nothing
 * else may use it.
 */
export async function openTaskManifest(storage: StorageProviderV1, task: TaskEnvelope, trustedKeys: readonly TrustedKey[]): Promise<OpenedTaskManifest> {
  const key = manifestKey(task.manifestDigest);
  const bytes = await storage.get(key);
  if (bytes === null) {
    return {
      failure: new CairnError('CAIRN_NOT_FOUND', `The dispatch manifest ${key} is not in storage; the worker must share the engine's storage.`, { path: key }),
    };
  }
  let envelopeValue: unknown;
  try {
    envelopeValue = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    envelopeValue = undefined;
  }
  const unverified = claimedManifest(envelopeValue);
  const failed = (failure: CairnError): OpenedTaskManifest => ({ failure, ...(unverified ? { unverified } : {}) });
  try {
    assertDigest(bytes, task.manifestDigest, `The dispatch manifest ${key}`);
  } catch (error) {
    return failed(error as CairnError);
  }
  let envelope;
  try {
    envelope = parsePayload(dsseEnvelopeSchema, envelopeValue, 'envelope');
  } catch (error) {
    return failed(
      new CairnError(
        'CAIRN_SIGNATURE_INVALID',
        `The dispatch manifest ${key} is not a well-formed DSSE envelope (${(error as Error).message}); nothing was run.`,
        { path: key, cause: error },
      ),
    );
  }
  let manifest: DispatchManifest;
  try {
    manifest = openManifest(envelope, trustedKeys);
  } catch (error) {
    const cause = error as CairnError;
    // A payload that verifies but is not a valid manifest keeps its own code (CAIRN_PAYLOAD_INVALID).
    return failed(new CairnError(cause.code, `The dispatch manifest ${key} was refused: ${cause.message} Nothing was run.`, { path: key, cause }));
  }
  if (manifest.executionId !== task.executionId) {
    return {
      failure: new CairnError(
        'CAIRN_PAYLOAD_INVALID',
        `The dispatch manifest ${key} is for execution ${JSON.stringify(manifest.executionId)}, not the task's ${JSON.stringify(task.executionId)}; nothing was run.`,
        {
          path: '$.executionId',
        },
      ),
    };
  }
  return { manifest };
}

/** The identifying fields an envelope's payload claims, without trusting them. */
function claimedManifest(envelope: unknown): Partial<DispatchManifest> | undefined {
  try {
    const payload = (envelope as { payload?: unknown }).payload;
    if (typeof payload !== 'string') return undefined;
    const value = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as Record<string, unknown>;
    return typeof value === 'object' && value !== null ? (value as Partial<DispatchManifest>) : undefined;
  } catch {
    return undefined;
  }
}
