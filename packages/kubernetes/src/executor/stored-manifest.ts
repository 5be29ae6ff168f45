import type { StorageProviderV1 } from '@cairn/core';
import { CairnError, isCairnError, manifestKey } from '@cairn/protocol';
import { z } from 'zod';

/** What the executor reads of an attempt's manifest: its pod's labels, its deadline and its network. */
export interface ManifestFacts {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly timeoutMs: number;
  readonly network: boolean | { readonly allow: readonly string[] };
}

const factsSchema = z.object({
  executionId: z.string(),
  runId: z.string().min(1),
  itemId: z.string().min(1),
  attempt: z.int().min(1),
  limits: z.object({ timeoutMs: z.int().min(1), network: z.union([z.boolean(), z.object({ allow: z.array(z.string()) })]) }),
});

/**
 * Reads the stored manifest of `manifestDigest` (a DSSE envelope, or a batched manifest) without
 * checking its signature: the worker checks it before it runs anything; the executor only takes
 * the pod's labels, its deadline and whether its network is one this executor can give. A manifest
 * that is missing, or names another execution, refuses the start.
 */
export async function readManifestFacts(storage: StorageProviderV1, executionId: string, manifestDigest: string, settingsPath: string): Promise<ManifestFacts> {
  let bytes: Uint8Array | null;
  try {
    bytes = await storage.get(manifestKey(manifestDigest));
  } catch (error) {
    throw new CairnError(
      'CAIRN_EXECUTOR_UNAVAILABLE',
      `[cairn] [kubernetes] the manifest ${manifestDigest} of execution ${executionId} could not be read: ${isCairnError(error) ? `${error.code}: ${error.message}` : String(error)}`,
      { path: `${settingsPath}.storage`, cause: error },
    );
  }
  const refuse = (why: string) =>
    new CairnError('CAIRN_EXECUTOR_START_FAILED', `[cairn] [kubernetes] execution ${executionId} is not started: its manifest ${manifestDigest} ${why}.`, {
      path: 'task.manifestDigest',
    });
  if (bytes === null) throw refuse('is not in storage (the engine stores a manifest before it starts its task)');
  let payload: unknown;
  try {
    const stored = JSON.parse(new TextDecoder().decode(bytes)) as { payload?: unknown; manifest?: unknown };
    const encoded = stored.manifest ?? stored.payload;
    payload = typeof encoded === 'string' ? JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) : undefined;
  } catch {
    payload = undefined;
  }
  const parsed = factsSchema.safeParse(payload);
  if (!parsed.success) throw refuse('is not a stored dispatch manifest');
  if (parsed.data.executionId !== executionId) throw refuse(`names another execution (${parsed.data.executionId})`);
  const { runId, itemId, attempt, limits } = parsed.data;
  return { runId, itemId, attempt, timeoutMs: limits.timeoutMs, network: limits.network };
}
