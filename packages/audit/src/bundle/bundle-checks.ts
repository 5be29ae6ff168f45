import type { X509Certificate } from 'node:crypto';
import type {
  AnchorReceipt,
  AnchoredCheckpoint,
  Checkpoint,
  CheckpointReference,
  EgressRecordCounts,
  EvidenceBundleV1,
  GuaranteeTier,
  VerificationCheckStatus,
} from '@cairn/core';
import { canonicalJson, canonicalJsonBytes, digestOfJson, isCairnError, sha256Digest } from '@cairn/protocol';
import { anchorEnvelopeBytes, anchorEnvelopeDigest, openReceipt } from '../anchor/signed-receipt.ts';
import { readTrustedAnchor } from '../anchor/read-trusted-anchor.ts';
import type { TrustedAnchor } from '../anchor/trusted-anchor.ts';
import { openCheckpoint } from '../checkpoint/checkpoint-envelope.ts';
import { openStoredManifest, storedManifestSignatures } from '../checkpoint/manifest-batch.ts';
import { openKeyDelegation } from '../checkpoint/key-delegation-envelope.ts';
import type { TrustedKey } from '../dsse/verify-signature.ts';
import { decodeBase64Strict } from '../dsse/base64.ts';
import { verifyTimestampToken } from '../timestamp/verify-timestamp-token.ts';
import {
  completedArtifacts,
  dispatchedManifest,
  isTerminalRunEntry,
  modelCallBodies,
  modelCallData,
  modelCallDataProblem,
  submittedSpecDigest,
} from '../entries/entry-data.ts';
import { addModelCallSpend, describeModelCallSpend, noModelCallSpend, spendOfModelCallData } from '../entries/model-call-spend.ts';
import { verifyMultiInclusionOfTexts } from '../merkle/parallel-multi-inclusion.ts';
import { canonicalEntryText } from '../entries/canonical-entry-text.ts';
import { describeEgressCounts, readEgressRecord } from './egress-report.ts';
import { runGraphProblem } from './run-graph.ts';

/** The verdict of one check. */
export interface CheckResult {
  readonly status: VerificationCheckStatus;
  readonly detail: string;
}

export const pass = (detail: string): CheckResult => ({ status: 'pass', detail });
export const fail = (detail: string): CheckResult => ({ status: 'fail', detail });
export const notChecked = (detail: string): CheckResult => ({ status: 'not-checked', detail });

/** What the checks share: the bundle, its checkpoint (read, not yet trusted) and the keys trusted. */
export interface BundleContext {
  readonly bundle: EvidenceBundleV1;
  readonly checkpoint: Checkpoint | undefined;
  readonly trustedKeys: readonly TrustedKey[];
  /** True when no key came from the caller: the bundle vouches for itself. */
  readonly selfAsserted: boolean;
}

const describe = (error: unknown) => (isCairnError(error) || error instanceof Error ? error.message : String(error));

/** Entries belong to this run, sit at their own leaf index and come in runSeq order. */
export function checkEntries({ bundle }: BundleContext): CheckResult {
  const entries = bundle.entries;
  let previous: number | undefined;
  // A run's entries come in log order, so seqs ascend and are distinct without a set of a million
  // of them; a set is built only from the first seq that does not ascend.
  let seen: Set<number> | undefined;
  // Written only for a failure: a template string per entry is a tenth of the check.
  const at = (position: number) => `$.entries[${position}]`;
  for (let position = 0; position < entries.length; position++) {
    const entry = entries[position]!;
    if (entry.runId !== bundle.runId)
      return fail(`${at(position)}.runId is ${JSON.stringify(entry.runId)}, not this run's ${JSON.stringify(bundle.runId)}: an entry of another run`);
    if (entry.runSeq === undefined) return fail(`${at(position)}.runSeq is missing`);
    if (previous !== undefined && entry.runSeq <= previous)
      return fail(`${at(position)}.runSeq ${entry.runSeq} follows ${previous}: entries are out of order or repeated`);
    if (seen === undefined && position > 0 && entry.seq <= entries[position - 1]!.seq) seen = new Set(entries.slice(0, position).map((earlier) => earlier.seq));
    if (seen !== undefined) {
      if (seen.has(entry.seq)) return fail(`${at(position)}.seq ${entry.seq} appears twice`);
      seen.add(entry.seq);
    }
    previous = entry.runSeq;
  }
  return bundle.entries.length === 0 ? fail('$.entries is empty') : pass(`${bundle.entries.length} entries of run ${bundle.runId}, in order`);
}

/**
 * runSeq runs 0..n-1 without gaps, from `run.submitted` (naming the spec) to one terminal entry,
 * and the entries are about exactly the spec's items and those of the fragments its planners
 * added (`runGraphProblem`), each of which ended.
 */
export function checkCompleteness({ bundle }: BundleContext): CheckResult {
  const entries = bundle.entries;
  // One pass for the three things read of every entry (a pass over a million costs more than its tests).
  let gap = -1;
  let terminal = -1;
  let reruns = 0;
  for (let position = 0; position < entries.length; position++) {
    const entry = entries[position]!;
    if (gap < 0 && entry.runSeq !== position) gap = position;
    if (terminal < 0 && isTerminalRunEntry(entry)) terminal = position;
    if (entry.action === 'run.extended' && entry.data['rerun'] !== undefined) reruns++;
  }
  if (gap >= 0) return fail(`$.entries[${gap}].runSeq is ${entries[gap]!.runSeq}, expected ${gap}: entries are missing`);
  const first = entries[0];
  if (!first || first.action !== 'run.submitted')
    return fail(`$.entries[0] is ${first?.action ?? 'absent'}, not run.submitted: the run's beginning is missing`);
  const specDigest = digestOfJson(bundle.spec);
  if (bundle.specDigest !== specDigest) return fail(`$.specDigest is ${bundle.specDigest} but the spec hashes to ${specDigest}`);
  if (submittedSpecDigest(first) !== specDigest) return fail(`$.entries[0].data.specDigest does not name the bundle's spec (${specDigest})`);
  if (terminal < 0) return fail('no run.succeeded, run.failed or run.cancelled entry: the run has not ended or its end is missing');
  if (terminal !== entries.length - 1) return fail(`$.entries[${terminal}] ends the run but ${entries.length - 1 - terminal} entries follow it`);
  const graph = runGraphProblem(bundle);
  if (graph !== undefined) return fail(graph);
  const grown = bundle.fragments?.length ?? 0;
  const added = [
    ...(grown === 0 ? [] : [`those of ${grown} planner fragments`]),
    ...(reruns === 0 ? [] : [`${reruns} re-run${reruns === 1 ? '' : 's'} of merged items`]),
  ];
  const graphText = added.length === 0 ? `its ${bundle.spec.items.length} items` : `the spec's ${bundle.spec.items.length} items and ${added.join(' and ')}`;
  return pass(`runSeq 0..${entries.length - 1} without gaps, from run.submitted to ${entries[terminal]!.action}; about ${graphText}, each ended, and no other`);
}

/**
 * The entries' leaves and the multiproof recompute the checkpoint's root. For a large bundle the
 * leaves are hashed on a second thread while the promise is pending: start this check first and
 * run the others before awaiting it.
 */
export async function checkInclusion({ bundle, checkpoint }: BundleContext): Promise<CheckResult> {
  if (!checkpoint) return fail('$.checkpoint.payload is not a checkpoint, so there is no root to prove against');
  // Entries come in log order: sorted already, unless a bundle is out of order. The leaf indexes
  // are written as they are read, into the array the inclusion worker takes (no array of a
  // million numbers to copy into it).
  let leafIndexes = new Float64Array(bundle.entries.length);
  let ascending = true;
  for (let position = 0; position < bundle.entries.length; position++) {
    const seq = bundle.entries[position]!.seq;
    if (position > 0 && leafIndexes[position - 1]! >= seq) ascending = false;
    leafIndexes[position] = seq;
  }
  const bySeq = ascending ? bundle.entries : [...bundle.entries].sort((a, b) => a.seq - b.seq);
  if (!ascending) leafIndexes = Float64Array.from(bySeq, (entry) => entry.seq);
  const repeated = ascending ? undefined : bySeq.find((entry, position) => position > 0 && bySeq[position - 1]!.seq === entry.seq);
  if (repeated) return fail(`entry seq ${repeated.seq} appears twice`);
  const outside = (bySeq.at(-1)?.seq ?? 0) >= checkpoint.treeSize ? bySeq.find((entry) => entry.seq >= checkpoint.treeSize) : undefined;
  if (outside) return fail(`entry seq ${outside.seq} is beyond the checkpoint's tree size ${checkpoint.treeSize}`);
  const proof = bundle.inclusionProof.map((hex) => new Uint8Array(Buffer.from(hex, 'hex')));
  let included: boolean;
  try {
    included = await verifyMultiInclusionOfTexts(
      checkpoint.treeSize,
      leafIndexes,
      (position) => canonicalEntryText(bySeq[position]!),
      proof,
      new Uint8Array(Buffer.from(checkpoint.rootHash, 'hex')),
    );
  } catch (error) {
    // An entry given as a value may hold what has no canonical JSON (a lone surrogate): it has no leaf.
    if (!isCairnError(error, 'CAIRN_JSON_NOT_CANONICALIZABLE')) throw error;
    return fail(`$.entries: an entry has no canonical JSON, so no leaf hash: ${describe(error)}`);
  }
  if (!included) return fail(`$.inclusionProof: the entries do not recompute the root ${checkpoint.rootHash} of tree size ${checkpoint.treeSize}`);
  return pass(`${bySeq.length} entries included in the tree of size ${checkpoint.treeSize} (root ${checkpoint.rootHash})`);
}

/** The checkpoint envelope is signed by a trusted key. */
export function checkCheckpointSignature({ bundle, trustedKeys, selfAsserted }: BundleContext): CheckResult {
  try {
    const checkpoint = openCheckpoint(bundle.checkpoint, trustedKeys);
    const by = bundle.checkpoint.signatures.map((signature) => signature.keyid).find((keyId) => trustedKeys.some((key) => key.record.keyId === keyId));
    const trust = selfAsserted
      ? 'a key taken from the bundle itself, not trusted (proves consistency only: pass a trusted key or pin its key id to verify)'
      : 'a trusted key';
    return pass(`checkpoint ${checkpoint.origin}@${checkpoint.treeSize} signed by ${by} — ${trust}`);
  } catch (error) {
    return fail(`$.checkpoint: ${describe(error)}`);
  }
}

/**
 * Each manifest is signed (by a trusted key, or by a key a delegation statement signed by a
 * trusted key vouches for), is the one a dispatched entry names, and every dispatch has its
 * manifest. Each delegation statement verifies, comes in order and is used by a manifest.
 */
export function checkManifests({ bundle, trustedKeys }: BundleContext): CheckResult {
  const delegates = new Map<string, { key: TrustedKey; position: number }>();
  for (const [position, envelope] of (bundle.delegations ?? []).entries()) {
    const at = `$.delegations[${position}]`;
    try {
      const { delegateKey } = openKeyDelegation(envelope, trustedKeys);
      const keyId = delegateKey.record.keyId;
      const previous = [...delegates.keys()].at(-1);
      if (previous !== undefined && keyId <= previous) return fail(`${at}: the statement for ${keyId} is out of order or repeated`);
      delegates.set(keyId, { key: delegateKey, position });
    } catch (error) {
      return fail(`${at}: ${describe(error)}`);
    }
  }
  const unused = new Set(delegates.keys());
  const named = new Map<string, { itemId: string; attempt: number; position: number }>();
  // An index loop: no iterator result and [position, entry] pair per entry of a million.
  for (let position = 0; position < bundle.entries.length; position++) {
    const dispatched = dispatchedManifest(bundle.entries[position]!);
    if (dispatched) named.set(dispatched.manifestDigest, { ...dispatched, position });
  }
  let previous = '';
  for (const [position, manifest] of bundle.manifests.entries()) {
    const at = `$.manifests[${position}]`;
    if (manifest.digest <= previous) return fail(`${at}.digest is out of order or repeated`);
    previous = manifest.digest;
    const digest = sha256Digest(canonicalJsonBytes(manifest.envelope));
    if (digest !== manifest.digest) return fail(`${at}: the envelope hashes to ${digest}, not ${manifest.digest}`);
    const dispatch = named.get(manifest.digest);
    if (!dispatch) return fail(`${at}: no attempt.dispatched entry names ${manifest.digest}; an unbound manifest is not evidence`);
    try {
      // A delegate verifies manifests only, and only through its verified statement. A batched
      // manifest (ADR 0026) is vouched for by its batch's signatures.
      const signatures = storedManifestSignatures(manifest.envelope);
      const delegated = signatures.flatMap((signature) => {
        const delegate = delegates.get(signature.keyid);
        if (delegate) unused.delete(signature.keyid);
        return delegate ? [delegate.key] : [];
      });
      const signedByTrusted = signatures.some((signature) => trustedKeys.some((key) => key.record.keyId === signature.keyid));
      if (!signedByTrusted && delegated.length === 0) {
        const by = signatures.map((signature) => signature.keyid).join(', ');
        return fail(`${at}.envelope: signed by ${by}, which is not trusted, and no statement of $.delegations signed by a trusted key vouches for it`);
      }
      const opened = openStoredManifest(manifest.envelope, [...trustedKeys, ...delegated]);
      if (opened.runId !== bundle.runId || opened.itemId !== dispatch.itemId || opened.attempt !== dispatch.attempt) {
        return fail(
          `${at}: the manifest is for ${opened.runId}/${opened.itemId}#${opened.attempt}, but $.entries[${dispatch.position}] dispatched ${bundle.runId}/${dispatch.itemId}#${dispatch.attempt}`,
        );
      }
    } catch (error) {
      return fail(`${at}.envelope: ${describe(error)}`);
    }
    named.delete(manifest.digest);
  }
  const [missing] = named.values();
  if (missing) return fail(`$.entries[${missing.position}] dispatched a manifest the bundle does not hold`);
  const [idle] = unused;
  if (idle !== undefined)
    return fail(`$.delegations[${delegates.get(idle)!.position}]: no manifest of the bundle is signed by ${idle}; an unused statement is not evidence`);
  const through = delegates.size === 0 ? '' : `, ${delegates.size} delegated key${delegates.size === 1 ? '' : 's'} vouched for by a trusted key`;
  return pass(`${bundle.manifests.length} signed manifests, each named by an attempt.dispatched entry${through}`);
}

/**
 * Each artifact is one an entry of its item and attempt names (`attempt.completed`: patch and
 * logs; `model.called`: a model call's bodies), and none named is missing. Each `model.called`
 * entry has the documented data, is about the attempt an earlier `attempt.dispatched` entry
 * started, and says `success` only for a 2xx answer. The pass detail sums the run's metered spend
 * as those entries record it. With `readArtifact`, each content hashes to its digest and each
 * `egress` record (ADR 0049) is read line by line: a malformed line fails the check, and the
 * records' counts are in the detail and in `egress`; without it, the detail says how many egress
 * records are listed, their contents not checked.
 */
export async function checkArtifacts({ bundle }: BundleContext, readArtifact?: (digest: string) => Promise<Uint8Array | null>): Promise<ArtifactsCheckResult> {
  const named = new Map<string, number>();
  let spend = noModelCallSpend;
  // The execution id of each dispatched attempt, by item and attempt.
  const dispatched = new Map<string, string>();
  const attemptKey = (itemId: string, attempt: number) => `${itemId}#${attempt}`;
  for (let position = 0; position < bundle.entries.length; position++) {
    const entry = bundle.entries[position]!;
    const dispatch = dispatchedManifest(entry);
    if (dispatch) dispatched.set(attemptKey(dispatch.itemId, dispatch.attempt), entry.entity.id);
    const completed = completedArtifacts(entry);
    for (const artifact of completed?.artifacts ?? [])
      named.set(canonicalJson({ ...artifact, itemId: completed!.itemId, attempt: completed!.attempt }), position);
    if (entry.action !== 'model.called') continue;
    // Written only here: a template per entry of a million is most of this loop.
    const at = `$.entries[${position}]`;
    // Read once: its data, its bodies and its spend all come from this one parse.
    const call = modelCallData(entry);
    if (call === undefined) return fail(`${at}.data.${modelCallDataProblem(entry)!} (the data of a model.called entry, docs/audit/formats.md)`);
    const which = attemptKey(call.itemId, call.attempt);
    const executionId = dispatched.get(which);
    if (executionId === undefined) return fail(`${at}: a model call of ${which}, an attempt no earlier attempt.dispatched entry of the run started`);
    if (entry.entity.kind !== 'attempt' || entry.entity.id !== executionId)
      return fail(`${at}.entity is ${entry.entity.kind} ${entry.entity.id}, not the attempt ${executionId} dispatched as ${which}`);
    if (entry.outcome === 'success' && (call.status < 200 || call.status > 299))
      return fail(`${at}: outcome success with HTTP status ${call.status}; a model call succeeds only with a 2xx answer`);
    for (const artifact of modelCallBodies(call)) named.set(canonicalJson({ ...artifact, itemId: call.itemId, attempt: call.attempt }), position);
    spend = addModelCallSpend(spend, spendOfModelCallData(entry.outcome, call));
  }
  let previous = '';
  for (const [position, artifact] of bundle.artifacts.entries()) {
    const key = canonicalJson(artifact);
    if (key <= previous) return fail(`$.artifacts[${position}] is out of order or repeated`);
    previous = key;
    if (!named.delete(key)) {
      const by = isModelCallBody(artifact) ? 'model.called' : 'attempt.completed';
      return fail(`$.artifacts[${position}]: no ${by} entry names ${artifact.kind} ${artifact.digest} of ${artifact.itemId}#${artifact.attempt}`);
    }
  }
  const [missing] = named.values();
  if (missing !== undefined) return fail(`$.entries[${missing}] names an artifact the bundle does not list`);
  const egress: EgressRecordCounts[] = [];
  if (readArtifact) {
    for (const [position, artifact] of bundle.artifacts.entries()) {
      const bytes = await readArtifact(artifact.digest);
      if (bytes === null) return fail(`$.artifacts[${position}]: ${artifact.digest} could not be fetched`);
      if (sha256Digest(bytes) !== artifact.digest)
        return fail(`$.artifacts[${position}]: the fetched content hashes to ${sha256Digest(bytes)}, not ${artifact.digest}`);
      // An environment setup's record (ADR 0056) is read as an attempt's; the counts are the attempts'.
      if (artifact.kind !== 'egress' && artifact.kind !== 'environment-egress') continue;
      const reading = readEgressRecord(bytes);
      const whose = artifact.kind === 'egress' ? 'the egress record' : "the environment setup's egress record";
      if ('problem' in reading)
        return fail(
          `$.artifacts[${position}]: ${whose} of ${artifact.itemId}#${artifact.attempt} (${artifact.digest}), line ${reading.line}: ${reading.problem}`,
        );
      if (artifact.kind === 'egress') egress.push({ itemId: artifact.itemId, attempt: artifact.attempt, digest: artifact.digest, ...reading.counts });
    }
  }
  const bodies = bundle.artifacts.filter(isModelCallBody).length;
  const listed = readArtifact
    ? `${bundle.artifacts.length} artifacts (${bodies} model call bodies), each named by an attempt.completed or model.called entry of its item and attempt and fetched with matching content`
    : `${bundle.artifacts.length} artifact digests (${bodies} model call bodies), each named by an attempt.completed or model.called entry of its item and attempt (contents not fetched)`;
  const records = bundle.artifacts.filter((artifact) => artifact.kind === 'egress').length;
  const plural = records === 1 ? 'record' : 'records';
  egress.sort((a, b) => (a.itemId === b.itemId ? a.attempt - b.attempt : a.itemId < b.itemId ? -1 : 1));
  const egressText =
    records === 0
      ? []
      : readArtifact
        ? [`${records} egress ${plural} read: ${egress.map(describeEgressCounts).join('; ')}`]
        : [`${records} egress ${plural} listed, ${records === 1 ? 'its' : 'their'} contents not checked`];
  const detail = [listed, ...egressText, describeModelCallSpend(spend)].join('; ');
  return readArtifact ? { ...pass(detail), egress } : pass(detail);
}

/** The result, and with contents read, each attempt's egress record counted (ordered by item and attempt). */
export interface ArtifactsCheckResult extends CheckResult {
  readonly egress?: readonly EgressRecordCounts[];
}

/** Whether an artifact is a model call's request or response body. */
function isModelCallBody(artifact: { readonly kind: string }): boolean {
  return artifact.kind === 'model-request' || artifact.kind === 'model-response';
}

/** Options of the anchor check. */
export interface AnchorCheckOptions {
  /** Checkpoints the verifier trusts from elsewhere (an earlier verification, a witness). */
  readonly knownCheckpoints?: readonly Checkpoint[];
  /**
   * Anchors the caller trusts, each read live for the bundle's checkpoint (by origin, tree size
   * and root); each must hold it. Without any, the anchor check is `not-checked`.
   */
  readonly trustedAnchors?: readonly TrustedAnchor[];
  /**
   * @deprecated Use `trustedAnchors`, which names the anchor and its guarantee. Read as one more
   * trusted anchor named `readAnchor` with the `detect` guarantee: asked for the checkpoint itself,
   * never for what a receipt names, and never raising the claim.
   */
  readonly readAnchor?: (reference: CheckpointReference) => Promise<AnchoredCheckpoint | null>;
}

/** The result, and the guarantees (the verifier's own) of the trusted anchors that held the checkpoint live. */
export interface AnchorCheckResult extends CheckResult {
  readonly liveGuarantees: readonly GuaranteeTier[];
}

/**
 * Receipts in the bundle are signed by a trusted key and name this checkpoint; known checkpoints
 * of the same size have the same root (no equivocation); and each trusted anchor, read live,
 * holds this checkpoint. Receipts are checked but never followed: where to read and what an
 * anchor guarantees come from the caller. A trusted anchor that recognises a receipt as its own
 * (`isOwnReceipt`) is asked to confirm it holds exactly what the receipt names (S3: its version).
 */
export async function checkAnchor({ bundle, checkpoint, trustedKeys }: BundleContext, options: AnchorCheckOptions): Promise<AnchorCheckResult> {
  const failed = (detail: string): AnchorCheckResult => ({ ...fail(detail), liveGuarantees: [] });
  if (!checkpoint) return failed('$.checkpoint.payload is not a checkpoint');
  const conflicting = options.knownCheckpoints?.find(
    (known) => known.origin === checkpoint.origin && known.treeSize === checkpoint.treeSize && known.rootHash !== checkpoint.rootHash,
  );
  if (conflicting)
    return failed(
      `equivocation: a known checkpoint of ${checkpoint.origin} at size ${checkpoint.treeSize} has root ${conflicting.rootHash}, this one ${checkpoint.rootHash}`,
    );
  const envelopeDigest = anchorEnvelopeDigest(bundle.checkpoint);
  const receipts: AnchorReceipt[] = [];
  let previous = '';
  for (const [position, envelope] of bundle.anchors.entries()) {
    const at = `$.anchors[${position}]`;
    const key = canonicalJson(envelope);
    if (key <= previous) return failed(`${at} is out of order or repeated`);
    previous = key;
    let receipt: AnchorReceipt;
    try {
      receipt = openReceipt(envelope, trustedKeys);
    } catch (error) {
      return failed(`${at}: ${describe(error)}`);
    }
    if (receipt.origin !== checkpoint.origin || receipt.treeSize !== checkpoint.treeSize || receipt.rootHash !== checkpoint.rootHash) {
      return failed(`${at}: the receipt is for ${receipt.origin}@${receipt.treeSize} (root ${receipt.rootHash}), not this checkpoint`);
    }
    if (receipt.envelopeDigest !== envelopeDigest)
      return failed(`${at}: the receipt anchors envelope ${receipt.envelopeDigest}, not this one (${envelopeDigest})`);
    receipts.push(receipt);
  }
  const anchors: TrustedAnchor[] = [
    ...(options.trustedAnchors ?? []),
    ...(options.readAnchor ? [{ name: 'readAnchor', guarantee: 'detect' as const, read: options.readAnchor }] : []),
  ];
  if (anchors.length === 0) {
    const held =
      receipts.length === 0
        ? 'the bundle holds no anchor receipt'
        : `${receipts.length} signed receipt(s) bound to this checkpoint (${receipts.map((receipt) => receipt.anchor).join(', ')})`;
    return { ...notChecked(`${held}; no trusted anchor was read live`), liveGuarantees: [] };
  }
  const expected = anchorEnvelopeBytes(bundle.checkpoint);
  const held: string[] = [];
  for (const anchor of anchors) {
    const holding = await readTrustedAnchor(anchor, checkpoint, expected, trustedKeys, receipts);
    if (!holding.held) return failed(holding.detail);
    held.push(`${anchor.name} (${anchor.guarantee}) holds it at ${holding.location}`);
  }
  return { ...pass(`read live: ${held.join('; ')}`), liveGuarantees: anchors.map((anchor) => anchor.guarantee) };
}

/**
 * The RFC 3161 token, when the bundle has one, stamps the checkpoint envelope's anchored bytes
 * and verifies with a TSA certificate the caller trusts.
 */
export function checkTimestamp({ bundle }: BundleContext, trustedTsaCertificates: readonly (X509Certificate | string)[] = []): CheckResult {
  if (!bundle.timestamp) return notChecked('the bundle holds no RFC 3161 timestamp token');
  if (trustedTsaCertificates.length === 0) return notChecked('an RFC 3161 token is present, but no trusted TSA certificate was given to check it');
  const token = decodeBase64Strict(bundle.timestamp.token);
  if (!token) return fail('$.timestamp.token is not canonical base64');
  try {
    const stamped = verifyTimestampToken(token, anchorEnvelopeBytes(bundle.checkpoint), trustedTsaCertificates);
    return pass(`the checkpoint was stamped by ${stamped.authority} at ${stamped.time}`);
  } catch (error) {
    return fail(`$.timestamp.token: ${describe(error)}`);
  }
}
