import type { Checkpoint, EvidenceBundleV1 } from '@cairn/core';
import { useEffect, useState } from 'preact/hooks';
import type { DashboardApi } from './dashboard-api.ts';
import { downloadBytes } from './download-bytes.ts';

/**
 * A run's evidence (`audit:read`): what its bundle (cairn.bundle/v1) holds — the signed checkpoint
 * that covers it, its audit entries by action, the dispatch manifests, the artifacts, the anchor
 * receipts and the trusted timestamp — and a download of the bundle's exact bytes, to verify
 * offline with `cairn verify`. The page does not verify it: a verdict computed by the page the
 * server sent would prove nothing the server could not fake.
 */
export function EvidenceView({ api, runId, runEnded }: { readonly api: DashboardApi; readonly runId: string; readonly runEnded: boolean }) {
  const [bundle, setBundle] = useState<{ blob: Blob; parsed: EvidenceBundleV1 } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    if (!runEnded) return;
    let cancelled = false;
    void (async () => {
      try {
        const blob = await api.blob(`/v1/runs/${encodeURIComponent(runId)}/bundle`);
        const parsed = JSON.parse(await blob.text()) as EvidenceBundleV1;
        if (!cancelled) setBundle({ blob, parsed });
      } catch (failure) {
        if (!cancelled) setProblem(failure instanceof Error ? failure.message : String(failure));
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [api, runId, runEnded]);
  if (!runEnded)
    return (
      <section class="evidence" aria-label="Evidence">
        <p class="empty">The evidence bundle is issued once the run has ended: a checkpoint must cover all its entries.</p>
      </section>
    );
  if (problem)
    return (
      <section class="evidence" aria-label="Evidence">
        <p class="error" role="alert">
          {problem}
        </p>
      </section>
    );
  if (!bundle) return <p class="loading">Loading the evidence…</p>;
  const { parsed } = bundle;
  const checkpoint = readCheckpoint(parsed);
  const actions = new Map<string, number>();
  for (const entry of parsed.entries) actions.set(entry.action, (actions.get(entry.action) ?? 0) + 1);
  return (
    <section class="evidence" aria-label="Evidence">
      <h2>Evidence</h2>
      <div class="actions">
        <button type="button" class="primary" onClick={() => downloadBytes(bundle.blob, `${runId}.bundle.json`)}>
          Download the bundle
        </button>
      </div>
      <p class="hint">
        Verify it offline: <code>cairn verify {runId}.bundle.json</code> checks every entry against the signed checkpoint (inclusion proof), the signatures
        against the key you trust, the anchors and the timestamp, and says what the bundle proves.
      </p>
      <dl class="bundle-facts">
        <dt>Checkpoint</dt>
        <dd>
          {checkpoint ? (
            <>
              tree size {checkpoint.treeSize}, root <code>{checkpoint.rootHash.slice(0, 16)}…</code>, issued {new Date(checkpoint.time).toLocaleString()} by{' '}
              <code>{checkpoint.origin}</code>
            </>
          ) : (
            'unreadable'
          )}
          {' · signed by '}
          {parsed.checkpoint.signatures.map((signature) => signature.keyid).join(', ')}
        </dd>
        <dt>Audit entries</dt>
        <dd>
          {parsed.entries.length}: {[...actions].map(([action, count]) => `${action} ×${count}`).join(', ')}
        </dd>
        <dt>Inclusion proof</dt>
        <dd>{parsed.inclusionProof.length} hashes</dd>
        <dt>Dispatch manifests</dt>
        <dd>{parsed.manifests.length}</dd>
        <dt>Artifacts</dt>
        <dd>
          {parsed.artifacts.length === 0 ? 'none' : parsed.artifacts.map((artifact) => `${artifact.itemId} #${artifact.attempt} ${artifact.kind}`).join(', ')}
        </dd>
        <dt>Anchors</dt>
        <dd>{parsed.anchors.length === 0 ? 'none: the checkpoint is not anchored yet' : `${parsed.anchors.length} receipt(s)`}</dd>
        <dt>Trusted timestamp</dt>
        <dd>{parsed.timestamp ? 'an RFC 3161 token over the checkpoint' : 'none'}</dd>
        <dt>Keys</dt>
        <dd>{parsed.keys.map((key) => `${key.keyId} (${key.algorithm})`).join(', ')}</dd>
      </dl>
    </section>
  );
}

/** The checkpoint the envelope signs (its payload, base64 canonical JSON); null if it does not read. */
function readCheckpoint(bundle: EvidenceBundleV1): Checkpoint | null {
  try {
    return JSON.parse(atob(bundle.checkpoint.payload)) as Checkpoint;
  } catch {
    return null;
  }
}
