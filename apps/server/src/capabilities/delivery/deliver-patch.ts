import type { DeliverRuntimeSpec, DispatchManifest, ForgeV1, SignerV1, StorageProviderV1 } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { assertDigest, blobKey, CairnError, fillDeliverPlaceholders, isCairnError } from '@cairn/protocol';
import { assertMayReplaceBranch } from './branch-ownership.ts';
import { changeRequestBody, provenanceComment } from './change-request-body.ts';
import type { DeliveredTips } from './delivered-tips.ts';
import { runDeliveries, type ItemDelivery } from './item-delivery.ts';
import { storePatchProvenance } from './patch-provenance-bundle.ts';
import { protectedPathsTouched, refuseProtectedPaths } from './protected-paths.ts';
import type { ServerForges } from './server-forges.ts';

/** What a delivery uses of the server. */
export interface DeliveryContext {
  readonly service: () => EngineService;
  readonly storage: StorageProviderV1;
  readonly signer: SignerV1;
  /** The log's origin: the builder a provenance statement names. */
  readonly origin: string;
  readonly forges: ServerForges;
  readonly tips: DeliveredTips;
  /** `server.publicUrl`: evidence links are made under it; paths when unset. */
  readonly publicUrl?: string;
  /** How long to wait before retrying a forge that was unavailable (attempt 1, 2, ...); three tries in all. */
  readonly unavailableDelaysMs?: readonly number[];
}

/** What a delivery did, for the attempt's stdout. */
export interface DeliveryReport {
  readonly delivery: ItemDelivery;
  readonly lines: readonly string[];
}

/**
 * Delivers the patch a deliver item's manifest names (ADR 0040): the base commit (the commit the
 * run's workspace was fetched at, else the tip of `base` on the forge now), the patch's provenance
 * built, signed and stored, one commit pushed on the base with `Cairn-Run` and `Cairn-Evidence`
 * (the provenance bundle's digest) under a lease on the commit the last delivery to the branch
 * pushed (or, for a run whose workspace is the branch it delivers to, on the commit it was fetched
 * at), and on a forge with change requests one opened or updated with the run's summary, spend
 * and evidence links, the provenance commented on it. A forge that is unavailable is tried three
 * times; every other refusal (a conflict, a patch that does not apply, refused credentials) ends
 * the attempt at once with the forge's CairnError: a person decides. Before anything is pushed, a
 * patch touching the forge's protected paths (its CI configuration) is refused where its config
 * says so (CAIRN_FORGE_PATH_PROTECTED) and flagged otherwise (in the change request and
 * `Item.delivery`), and a branch another run delivered is left alone unless this run may take it
 * over (CAIRN_FORGE_CONFLICT).
 */
export async function deliverPatch(context: DeliveryContext, manifest: DispatchManifest): Promise<DeliveryReport> {
  const runtime = manifest.runtime as DeliverRuntimeSpec;
  const { runId } = manifest;
  const service = context.service();
  const input = manifest.inputs[runtime.from];
  if (input === undefined)
    throw new CairnError(
      'CAIRN_NOT_FOUND',
      `Item ${runtime.from} of run ${runId} changed nothing, so item ${manifest.itemId} has no patch to deliver (runtime.from); nothing was pushed.`,
      { path: 'runtime.from' },
    );
  const patch = await context.storage.get(blobKey(input.digest));
  if (patch === null)
    throw new CairnError('CAIRN_NOT_FOUND', `The patch ${input.digest} of item ${runtime.from} is not in storage; nothing was pushed.`, {
      path: 'runtime.from',
    });
  assertDigest(patch, input.digest, `The patch of item ${runtime.from}`);
  const forge = await context.forges.forge(runtime.forge);
  const branch = fillDeliverPlaceholders(runtime.branch, runId, 'branch');
  const title = fillDeliverPlaceholders(runtime.title, runId, 'title');
  const lines: string[] = [];
  const retrying = <T>(what: string, call: () => Promise<T>) => whileUnavailable(what, call, context.unavailableDelaysMs ?? [2_000, 8_000], lines);

  // What the forge runs as configuration (its CI) is never changed unseen: refused, or named.
  const protection = context.forges.protectedPaths(runtime.forge);
  const touched = protectedPathsTouched(patch, protection.paths);
  if (touched.length > 0 && protection.action === 'refuse') refuseProtectedPaths(runtime.forge, runtime.from, touched);
  if (touched.length > 0)
    lines.push(`protected paths: ${touched.map((path) => JSON.stringify(path)).join(', ')} (forges.${runtime.forge}.protectedPaths flags them)`);

  const spec = await service.spec(runId);
  const last = await context.tips.read(runtime.forge, branch);
  assertMayReplaceBranch({ forge: runtime.forge, branch, runId, itemId: manifest.itemId, takeOver: runtime.takeOver === true, submittedSpec: spec }, last);
  const tookOverFrom = last !== null && last.runId !== runId ? last.runId : undefined;
  if (tookOverFrom !== undefined) lines.push(`take over: ${branch} was delivered by run ${tookOverFrom}`);
  // A workspace fetched from a repository names the commit it was fetched at: the patch was
  // captured against it, so it is the base (it must be on this forge). Otherwise the base branch's tip.
  const fetchedAt = spec?.workspace?.commit;
  const baseCommit = fetchedAt ?? (await retrying(`reading ${runtime.base}`, () => forge.readBranch(runtime.base)))?.commit;
  if (baseCommit === undefined)
    throw new CairnError(
      'CAIRN_FORGE_PATCH_INVALID',
      `The base branch ${runtime.base} does not exist on the forge ${runtime.forge} (runtime.base); nothing was pushed. Name a branch the repository has.`,
      { path: 'runtime.base' },
    );
  lines.push(`base: ${runtime.base} at ${baseCommit}${fetchedAt === undefined ? '' : ' (the commit the workspace was fetched at)'}`);
  // A run whose workspace was fetched from this forge at the very branch it delivers to (a review
  // loop's follow-up, ADR 0052) adds its commit on what it fetched, leased on that commit: a push
  // made before it started is built on, one made while it ran is never overwritten (CAIRN_FORGE_CONFLICT).
  const stacked = fetchedAt !== undefined && spec?.workspace?.repository === runtime.forge && spec.workspace.ref === branch;
  if (stacked) lines.push(`lease: ${branch} at ${fetchedAt}, the commit the workspace was fetched at`);

  const provenance = await storePatchProvenance(
    { service, storage: context.storage, signer: context.signer, origin: context.origin },
    runId,
    runtime.from,
    input.digest,
  );
  lines.push(`provenance: ${provenance.digest}`);
  const message = `${title}\n\n${runtime.body === undefined || runtime.body.trim() === '' ? '' : `${runtime.body.trim()}\n\n`}Delivered by Cairn: the patch of item ${runtime.from} of run ${runId}.`;
  const pushed = await retrying(`pushing ${branch}`, () =>
    forge.pushBranch({
      branch,
      base: baseCommit,
      patch,
      message,
      runId,
      evidenceDigest: provenance.digest,
      expectedTip: stacked ? fetchedAt : (last?.commit ?? null),
    }),
  );
  await context.tips.write({ forge: runtime.forge, branch, commit: pushed.commit, runId, itemId: manifest.itemId });
  lines.push(`branch: ${branch} ${pushed.outcome} at ${pushed.commit}${pushed.previous && pushed.outcome === 'updated' ? ` (was ${pushed.previous})` : ''}`);

  const delivered = {
    runtime,
    runId,
    branch,
    title,
    commit: pushed.commit,
    baseCommit,
    provenance,
    pushedNow: pushed.outcome !== 'unchanged',
    protectedPaths: touched,
  };
  // A commit added on a branch whose change request is open (a follow-up) leaves its title and
  // body as they are: a person may have edited them since; the provenance comment says what came.
  const kept = stacked && last !== null && forge.capabilities.changeRequests ? await openChangeRequestOf(context, forge, last, retrying) : undefined;
  if (kept !== undefined) {
    lines.push(`change request: ${kept.id} kept its title and body (the commit was added to its branch)`);
    await commentProvenance(context, forge, kept.id, delivered, retrying);
  }
  const changeRequest = kept ?? (forge.capabilities.changeRequests ? await openChangeRequest(context, forge, delivered, retrying) : undefined);
  if (changeRequest) lines.push(`change request: ${changeRequest.id} ${changeRequest.url}`);
  return {
    delivery: {
      forge: runtime.forge,
      from: runtime.from,
      branch,
      base: runtime.base,
      commit: pushed.commit,
      outcome: pushed.outcome === 'unchanged' ? 'unchanged' : 'pushed',
      ...(changeRequest ? { changeRequest } : {}),
      provenance: { digest: provenance.digest },
      ...(touched.length > 0 ? { protectedPaths: touched } : {}),
      ...(tookOverFrom === undefined ? {} : { tookOverFrom }),
    },
    lines,
  };
}

async function openChangeRequest(
  context: DeliveryContext,
  forge: ForgeV1,
  delivered: {
    readonly runtime: DeliverRuntimeSpec;
    readonly runId: string;
    readonly branch: string;
    readonly title: string;
    readonly commit: string;
    readonly baseCommit: string;
    readonly provenance: { readonly digest: string; readonly bytes: Uint8Array };
    readonly pushedNow: boolean;
    readonly protectedPaths: readonly string[];
  },
  retrying: <T>(what: string, call: () => Promise<T>) => Promise<T>,
): Promise<{ id: string; url: string }> {
  const body = await changeRequestBody(context.service(), { ...delivered, ...(context.publicUrl ? { publicUrl: context.publicUrl } : {}) });
  const opened = await retrying('opening the change request', () =>
    forge.openChangeRequest!({ branch: delivered.branch, target: delivered.runtime.base, title: delivered.title, body }),
  );
  await commentProvenance(context, forge, opened.id, delivered, retrying);
  return { id: opened.id, url: opened.url };
}

/** A comment per commit pushed: a delivery that found its commit there already (a retry) posted it before. */
async function commentProvenance(
  context: DeliveryContext,
  forge: ForgeV1,
  id: string,
  delivered: Parameters<typeof provenanceComment>[0] & { readonly pushedNow: boolean },
  retrying: <T>(what: string, call: () => Promise<T>) => Promise<T>,
): Promise<void> {
  if (!delivered.pushedNow) return;
  const comment = provenanceComment({ ...delivered, ...(context.publicUrl ? { publicUrl: context.publicUrl } : {}) });
  await retrying('commenting the provenance', () => forge.commentOnChangeRequest!(id, comment));
}

/** The change request the branch's last delivery opened, when it is still open; undefined otherwise (or when none is known). */
async function openChangeRequestOf(
  context: DeliveryContext,
  forge: ForgeV1,
  last: { readonly runId: string; readonly itemId: string },
  retrying: <T>(what: string, call: () => Promise<T>) => Promise<T>,
): Promise<{ id: string; url: string } | undefined> {
  const previous = (await runDeliveries(context.service(), context.storage, last.runId, [last.itemId])).get(last.itemId)?.changeRequest;
  if (previous === undefined || forge.readChangeRequest === undefined) return undefined;
  const read = await retrying('reading the change request', () => forge.readChangeRequest!(previous.id));
  return read?.state === 'open' ? { id: read.id, url: read.url } : undefined;
}

/** Runs `call`, again after each delay while the forge answers CAIRN_FORGE_UNAVAILABLE; the last refusal is thrown. */
async function whileUnavailable<T>(what: string, call: () => Promise<T>, delaysMs: readonly number[], lines: string[]): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isCairnError(error, 'CAIRN_FORGE_UNAVAILABLE') || attempt >= delaysMs.length) throw error;
      lines.push(`${what}: the forge was unavailable (${error.message}); trying again in ${delaysMs[attempt]} ms`);
      await new Promise((resolve) => setTimeout(resolve, delaysMs[attempt]));
    }
  }
}
