import type { AnchorReceipt, Checkpoint, EvidenceBundleV1, VerificationCheck, VerificationReport, VerificationVerdict } from '@cairn/core';
import { useEffect, useState } from 'preact/hooks';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { downloadBytes } from '../api/download-bytes.ts';
import { Icon, type IconName } from '../icons.tsx';
import { When } from '../time-format.tsx';
import { ChecksTable } from './checks-table.tsx';

/**
 * A run's evidence (`audit:read`): what its bundle (cairn.bundle/v1) holds — the signed checkpoint
 * that covers it, its audit entries by action, the dispatch manifests, the artifacts, the anchor
 * receipts and the trusted timestamp — every check of `cairn verify` run in the page on the bytes
 * downloaded, each with its detail, the status of each anchor receipt, and a download of the
 * bundle's exact bytes. The checks say against what they ran: the keys the bundle names, or a key
 * id the reader entered; and the page says what that cannot prove — a verdict computed by code the
 * server sent proves nothing the server could not fake, so the last word is `cairn verify` run
 * where the reader trusts the code, with a key the reader trusts.
 */
export function EvidenceView({ api, runId, runEnded }: { readonly api: DashboardApi; readonly runId: string; readonly runEnded: boolean }) {
  const [bundle, setBundle] = useState<{ blob: Blob; parsed: EvidenceBundleV1 } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  // A key id the reader typed (and applied): the checks then trust that key only, not the bundle's.
  const [pinnedKeyId, setPinnedKeyId] = useState('');
  const [keyInput, setKeyInput] = useState('');
  const [checked, setChecked] = useState<{ report: VerificationReport; pinnedKeyId: string } | { failure: string } | null>(null);
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
  useEffect(() => {
    if (!bundle) return;
    let cancelled = false;
    setChecked(null);
    void (async () => {
      try {
        const { verifyBundle } = await import('./evidence-verifier.ts');
        const bytes = new Uint8Array(await bundle.blob.arrayBuffer());
        const report = await verifyBundle(bytes, pinnedKeyId === '' ? {} : { pinnedKeyIds: [pinnedKeyId] });
        if (!cancelled) setChecked({ report, pinnedKeyId });
      } catch (failure) {
        if (!cancelled) setChecked({ failure: failure instanceof Error ? failure.message : String(failure) });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [bundle, pinnedKeyId]);
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
      <InPageChecks bundle={parsed} checked={checked} keyInput={keyInput} onKeyInput={setKeyInput} onPin={() => setPinnedKeyId(keyInput.trim())} />
      <p class="hint">
        Verify it offline: <code>cairn verify {runId}.bundle.json --trusted-key &lt;key id&gt;</code> checks every entry against the signed checkpoint
        (inclusion proof), the signatures against the key you trust, the anchors (with <code>--online</code>, read live) and the timestamp, and says what the
        bundle proves.
      </p>
      <dl class="bundle-facts">
        <dt>Checkpoint</dt>
        <dd>
          {checkpoint ? (
            <>
              tree size {checkpoint.treeSize}, root <code>{checkpoint.rootHash.slice(0, 16)}…</code>, issued <When iso={checkpoint.time} /> by{' '}
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
        <dd>{parsed.anchors.length === 0 ? 'none: the checkpoint is not anchored yet' : `${parsed.anchors.length} receipt(s), below`}</dd>
        <dt>Trusted timestamp</dt>
        <dd>{parsed.timestamp ? 'an RFC 3161 token over the checkpoint' : 'none'}</dd>
        <dt>Keys</dt>
        <dd>{parsed.keys.map((key) => `${key.keyId} (${key.algorithm})`).join(', ')}</dd>
      </dl>
    </section>
  );
}

/** The verdict in a word or two, for its badge; the sentence beside it says why. */
const verdictWords: Readonly<Record<VerificationVerdict, string>> = {
  verified: 'Verified',
  'untrusted-signer': 'Consistent, not verified',
  failed: 'Failed',
};
const verdictIcons: Readonly<Record<VerificationVerdict, IconName>> = {
  verified: 'circle-check',
  'untrusted-signer': 'circle-alert',
  failed: 'circle-x',
};

const checkLabels: Readonly<Record<VerificationCheck['name'], string>> = {
  entries: 'Entries',
  completeness: 'Completeness',
  inclusion: 'Inclusion in the checkpoint',
  'checkpoint-signature': 'Checkpoint signature',
  manifests: 'Dispatch manifests',
  artifacts: 'Artifacts',
  anchor: 'Anchor receipts',
  timestamp: 'Trusted timestamp',
  candidates: 'Best-of-N choices',
};

/**
 * The verifier's checks as this page ran them, what they were run against, the anchor receipts one
 * by one, and what an in-page verdict does not establish.
 */
function InPageChecks({
  bundle,
  checked,
  keyInput,
  onKeyInput,
  onPin,
}: {
  readonly bundle: EvidenceBundleV1;
  readonly checked: { report: VerificationReport; pinnedKeyId: string } | { failure: string } | null;
  readonly keyInput: string;
  readonly onKeyInput: (value: string) => void;
  readonly onPin: () => void;
}) {
  if (checked === null) return <p class="loading">Checking the bundle in this page…</p>;
  if ('failure' in checked)
    return (
      <p class="error" role="alert">
        The checks could not run in this page: {checked.failure}. Run <code>cairn verify</code> instead.
      </p>
    );
  const { report, pinnedKeyId } = checked;
  const failed = report.checks.filter((check) => check.status === 'fail');
  const against =
    pinnedKeyId === '' ? (
      <>the keys the bundle itself names ({bundle.keys.map((key) => key.keyId).join(', ')}), which anyone who writes a bundle can choose</>
    ) : (
      <>
        key id <code>{pinnedKeyId}</code>, which you entered (only if the bundle carries that key)
      </>
    );
  return (
    <section class="in-page-checks" aria-label="Checks in this page">
      <h3>Checks in this page</h3>
      <div class="verdict-block">
        <span class="verdict" data-verdict={report.verdict}>
          <Icon name={verdictIcons[report.verdict]} />
          {verdictWords[report.verdict]}
        </span>
        <span class="verdict-reason hint">
          {report.verdict === 'failed'
            ? `the ${failed.map((check) => check.name).join(', ')} check${failed.length === 1 ? '' : 's'} did not pass.`
            : report.verdict === 'verified'
              ? `every check passed, with the signatures checked against the key id you entered; the bundle supports the claim ${report.claim}.`
              : 'every check passed, but against the keys the bundle names, not a key you vouched for.'}
        </span>
      </div>
      <ChecksTable checks={report.checks} labels={checkLabels} />
      <AnchorStatuses bundle={bundle} anchor={report.checks.find((check) => check.name === 'anchor')} />
      <p class="hint in-page-scope">
        This page ran the checks of <code>cairn verify</code> (its own code, built for the browser) on the bytes it downloaded, with the signatures checked
        against {against}. No anchor was read live and no timestamp was checked against a TSA you trust. What this does not establish: that the key is the
        server's own key, or that the server did not write the bundle and this page alike — the page came from the same server as the bundle. For a verdict that
        rests on nothing the server sent, run <code>cairn verify</code> with a key you trust.
      </p>
      <form
        class="actions"
        onSubmit={(event) => {
          event.preventDefault();
          onPin();
        }}
      >
        <label>
          Check against a key id you trust{' '}
          <input value={keyInput} placeholder="sha256:…" onInput={(event) => onKeyInput((event.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">Check again</button>
      </form>
    </section>
  );
}

/**
 * Each anchor receipt of the bundle, read from its envelope (signed; the signature is what the
 * anchor check verified): which anchor, where, when, and its status in that check. Receipts are
 * checked in order and the check stops at the first that fails.
 */
function AnchorStatuses({ bundle, anchor }: { readonly bundle: EvidenceBundleV1; readonly anchor: VerificationCheck | undefined }) {
  if (bundle.anchors.length === 0) return <p class="anchors-none">No anchor receipt: the checkpoint covering this run is not anchored yet.</p>;
  const failedAt = anchor?.status === 'fail' ? Number(/^\$\.anchors\[(\d+)\]/.exec(anchor.detail)?.[1] ?? -1) : null;
  return (
    <ul class="anchor-statuses" aria-label="Anchors">
      {bundle.anchors.map((envelope, position) => {
        const receipt = readReceipt(envelope.payload);
        const status =
          failedAt === null
            ? 'receipt signed and bound to this checkpoint; not read live in this page (cairn verify --online reads it)'
            : failedAt === position
              ? `failed: ${anchor!.detail}`
              : failedAt === -1
                ? `not checked: the anchor check failed (${anchor!.detail})`
                : failedAt < position
                  ? 'not checked: the anchor check stopped at an earlier receipt'
                  : 'receipt signed and bound to this checkpoint';
        return (
          <li
            key={position}
            data-anchor={receipt?.anchor ?? ''}
            data-status={failedAt === position ? 'fail' : failedAt === null || failedAt > position ? 'pass' : 'not-checked'}
          >
            {receipt ? (
              <>
                <strong>{receipt.anchor}</strong> ({receipt.guarantee}) at <code>{receipt.location}</code>, anchored <When iso={receipt.anchoredAt} />
                {receipt.retainUntil && (
                  <>
                    , retained until <When iso={receipt.retainUntil} />
                  </>
                )}
              </>
            ) : (
              <strong>an unreadable receipt</strong>
            )}
            {' — '}
            {status}
          </li>
        );
      })}
    </ul>
  );
}

/** An anchor receipt's payload (base64 canonical JSON); null if it does not read. */
function readReceipt(payload: string): AnchorReceipt | null {
  try {
    return JSON.parse(atob(payload)) as AnchorReceipt;
  } catch {
    return null;
  }
}

/** The checkpoint the envelope signs (its payload, base64 canonical JSON); null if it does not read. */
function readCheckpoint(bundle: EvidenceBundleV1): Checkpoint | null {
  try {
    return JSON.parse(atob(bundle.checkpoint.payload)) as Checkpoint;
  } catch {
    return null;
  }
}
