import type { DispatchManifest, DsseSignature, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { openKeyDelegation, openStoredManifest, storedManifestSignatures, type TrustedKey } from '@cairn/audit';
import { assertDigest, CairnError, delegationKey, dsseEnvelopeSchema, isDigest, manifestKey, parsePayload, storedManifestSchema } from '@cairn/protocol';

/** What was read of a task's manifest: the verified manifest, or why there is none and what it claimed. */
export type OpenedTaskManifest = { readonly manifest: DispatchManifest } | { readonly failure: CairnError; readonly unverified?: Partial<DispatchManifest> };

/**
 * Fetches the task's signed manifest from `manifests/<digest>`, checks that the stored bytes hash
 * to the digest the task names (CAIRN_DIGEST_MISMATCH), that the DSSE envelope verifies under a
 * trusted key, or, for a manifest signed with its dispatch pass (ADR 0026), that the batch's
 * envelope does and the manifest's inclusion proof leads to the batch's signed root
 * (CAIRN_SIGNATURE_INVALID, also for a malformed envelope), and that the manifest is
 * for this very execution (CAIRN_PAYLOAD_INVALID). On failure it also returns what the payload
 * claims, unverified, so that the failure can be reported against the right attempt; nothing
 * else may use it.
 *
 * A manifest signed by a key that is not trusted is accepted through that key's delegation
 * statement (`delegations/<key id hex>.json`, ADR 0020), which must verify under a trusted key,
 * be for dispatch manifests and name that very key; the delegate then verifies this manifest and
 * nothing else. A missing, forged or other-purpose statement refuses the manifest
 * (CAIRN_SIGNATURE_INVALID). Storage vouches for nothing: only signatures do. `delegates` keeps
 * the delegates already verified (by key id), so a worker reads each statement once.
 */
export async function openTaskManifest(
  storage: StorageProviderV1,
  task: TaskEnvelope,
  trustedKeys: readonly TrustedKey[],
  delegates: Map<string, TrustedKey> = new Map(),
): Promise<OpenedTaskManifest> {
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
  let stored;
  try {
    stored = parsePayload(storedManifestSchema, envelopeValue, 'stored manifest');
  } catch (error) {
    return failed(
      new CairnError(
        'CAIRN_SIGNATURE_INVALID',
        `The dispatch manifest ${key} is neither a well-formed DSSE envelope nor a manifest with its batch (${(error as Error).message}); nothing was run.`,
        { path: key, cause: error },
      ),
    );
  }
  // A manifest signed with its pass (ADR 0026) is vouched for by its batch's signatures.
  const signatures = storedManifestSignatures(stored);
  let keys = trustedKeys;
  if (!signatures.some((signature) => trustedKeys.some((trusted) => trusted.record.keyId === signature.keyid))) {
    const delegate = await delegateOf(storage, signatures, trustedKeys, delegates);
    if (delegate instanceof CairnError) {
      return failed(
        new CairnError(delegate.code, `The dispatch manifest ${key} was refused: ${delegate.message} Nothing was run.`, {
          path: delegate.path ?? key,
          cause: delegate,
        }),
      );
    }
    keys = [delegate];
  }
  let manifest: DispatchManifest;
  try {
    manifest = openStoredManifest(stored, keys);
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

// The key that made one of `signatures` in place of a trusted key, vouched for by its verified
// delegation statement; or why there is none.
async function delegateOf(
  storage: StorageProviderV1,
  signatures: readonly DsseSignature[],
  trustedKeys: readonly TrustedKey[],
  delegates: Map<string, TrustedKey>,
): Promise<TrustedKey | CairnError> {
  const signers = signatures.map((signature) => signature.keyid);
  const known = signers.map((keyId) => delegates.get(keyId)).find((delegate) => delegate !== undefined);
  if (known) return known;
  let refusal: CairnError | undefined;
  // A key id is a digest; anything else is not looked up (it would name an arbitrary storage key).
  for (const keyId of signers.filter((candidate) => isDigest(candidate))) {
    const where = delegationKey(keyId);
    const bytes = await storage.get(where);
    if (bytes === null) {
      refusal ??= new CairnError(
        'CAIRN_SIGNATURE_INVALID',
        `it is signed by ${keyId}, which is not trusted, and no delegation statement for that key is in storage (${where}).`,
        { path: where },
      );
      continue;
    }
    try {
      const statement = parsePayload(dsseEnvelopeSchema, JSON.parse(new TextDecoder().decode(bytes)), 'key delegation statement');
      const { delegateKey } = openKeyDelegation(statement, trustedKeys, keyId);
      delegates.set(keyId, delegateKey);
      return delegateKey;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      refusal ??= new CairnError('CAIRN_SIGNATURE_INVALID', `it is signed by ${keyId}, which is not trusted, and ${where} does not vouch for it: ${reason}`, {
        path: where,
        cause: error,
      });
    }
  }
  return refusal ?? new CairnError('CAIRN_SIGNATURE_INVALID', 'No signature of the envelope is by a trusted key.', { path: '$.signatures' });
}

/** The identifying fields a stored manifest's payload claims (an envelope's, or a batched one's), without trusting them. */
function claimedManifest(stored: unknown): Partial<DispatchManifest> | undefined {
  try {
    const { payload, manifest } = stored as { payload?: unknown; manifest?: unknown };
    const claimed = manifest ?? payload;
    if (typeof claimed !== 'string') return undefined;
    const value = JSON.parse(Buffer.from(claimed, 'base64').toString('utf8')) as Record<string, unknown>;
    return typeof value === 'object' && value !== null ? (value as Partial<DispatchManifest>) : undefined;
  } catch {
    return undefined;
  }
}
