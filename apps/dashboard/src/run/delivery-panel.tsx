import type { EvidenceBundleV1, PublicKeyRecord } from '@cairn/core';
import { useEffect, useState } from 'preact/hooks';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { downloadBytes } from '../api/download-bytes.ts';
import { deliveryOf, type ItemDelivery } from '../api/item-delivery.ts';
import type { ItemSummary } from '../api/run-summary.ts';
import { Icon } from '../icons.tsx';
import { hrefOf } from '../use-route.ts';
import { ChecksTable } from './checks-table.tsx';

/** One check the page ran on the delivered provenance: its digest, then `cairn verify provenance`'s four. */
interface PageCheck {
  readonly name: 'digest' | 'bundle' | 'signature' | 'statement' | 'subject';
  readonly status: 'pass' | 'fail' | 'not-checked';
  readonly detail: string;
}

type Checked = { readonly checks: readonly PageCheck[]; readonly keyIds: readonly string[] } | { readonly failure: string };

const checkLabels: Readonly<Record<PageCheck['name'], string>> = {
  digest: 'Stored bytes',
  bundle: 'Sigstore bundle',
  signature: 'Signature',
  statement: 'Statement',
  subject: 'Subject',
};

/**
 * What a `deliver` item delivered: the change request (a link to the forge), the branch and its
 * base, the commit, whether this delivery pushed it, the patch it carries and that patch's signed
 * provenance (its digest and a download of the exact stored bytes). The page checks the
 * provenance as `cairn verify provenance` would — the bytes against the digest the delivery
 * recorded, the bundle, the signature, the statement, and that it is about the delivered item's
 * patch — and says against what: the signature is checked against the key the run's evidence
 * bundle names, which the same server sent (read only with `audit.read`, once the run has ended),
 * so the page never calls it verified: that takes `cairn verify provenance` with a key you trust.
 */
export function DeliveryPanel({
  api,
  runId,
  itemId,
  delivery,
  runEnded,
  mayReadEvidence,
}: {
  readonly api: DashboardApi;
  readonly runId: string;
  readonly itemId: string;
  readonly delivery: ItemDelivery;
  readonly runEnded: boolean;
  readonly mayReadEvidence: boolean;
}) {
  const [checked, setChecked] = useState<Checked | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const keysReadable = runEnded && mayReadEvidence;
  useEffect(() => {
    let cancelled = false;
    setChecked(null);
    void checkProvenance(api, runId, delivery, keysReadable).then(
      (result) => !cancelled && setChecked(result),
      (failure: unknown) => !cancelled && setChecked({ failure: failure instanceof Error ? failure.message : String(failure) }),
    );
    return () => {
      cancelled = true;
    };
  }, [api, runId, delivery.provenance.digest, delivery.from, keysReadable]);
  const provenanceFile = `${runId}-${delivery.from}.provenance.json`;
  const download = async () => {
    try {
      setProblem(null);
      downloadBytes(await api.blob(`/v1/blobs/${encodeURIComponent(delivery.provenance.digest)}`), provenanceFile);
    } catch (failure) {
      setProblem(failure instanceof Error ? failure.message : String(failure));
    }
  };
  return (
    <section class="delivery" aria-label={`Delivery of ${itemId}`} data-item-id={itemId}>
      <h3>
        <Icon name="git-pull-request" /> Delivered by {itemId} to {delivery.forge}
      </h3>
      <dl class="bundle-facts delivery-facts">
        <dt>Change request</dt>
        <dd data-fact="change-request">
          {delivery.changeRequest ? (
            <>
              <a href={delivery.changeRequest.url} target="_blank" rel="noopener noreferrer">
                #{delivery.changeRequest.id}
              </a>{' '}
              <span class="hint">{delivery.changeRequest.url}</span>
            </>
          ) : (
            <span class="empty">none: forge {delivery.forge} has no change requests (a git remote); the branch is the delivery</span>
          )}
        </dd>
        <dt>Branch</dt>
        <dd data-fact="branch">
          <code>{delivery.branch}</code> on <code>{delivery.base}</code>
        </dd>
        <dt>Commit</dt>
        <dd data-fact="commit">
          <code title={delivery.commit}>{delivery.commit}</code>
        </dd>
        <dt>Outcome</dt>
        <dd data-fact="outcome" data-outcome={delivery.outcome}>
          {delivery.outcome === 'pushed'
            ? 'pushed: the branch now points at this commit'
            : 'unchanged: the branch already held this delivery, nothing was pushed'}
        </dd>
        <dt>Patch</dt>
        <dd data-fact="from">
          of item <a href={hrefOf({ page: 'run', runId, itemId: delivery.from, evidence: false })}>{delivery.from}</a>, one commit on{' '}
          <code>{delivery.base}</code>
        </dd>
        <dt>Provenance</dt>
        <dd data-fact="provenance">
          <code>{delivery.provenance.digest}</code>{' '}
          <button type="button" class="link" onClick={() => void download()}>
            Download the provenance
          </button>
        </dd>
      </dl>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      <ProvenanceChecks checked={checked} keysReadable={keysReadable} runEnded={runEnded} />
      <p class="hint">
        Verify it offline, with the server's public key from its operator:{' '}
        <code>
          cairn verify provenance {provenanceFile} --trusted-key-file signing-key.pub.pem --patch {delivery.from}.patch
        </code>
      </p>
    </section>
  );
}

function ProvenanceChecks({
  checked,
  keysReadable,
  runEnded,
}: {
  readonly checked: Checked | null;
  readonly keysReadable: boolean;
  readonly runEnded: boolean;
}) {
  if (checked === null) return <p class="loading">Checking the provenance in this page…</p>;
  if ('failure' in checked)
    return (
      <p class="error" role="alert">
        The provenance could not be checked in this page: {checked.failure}. Run <code>cairn verify provenance</code> instead.
      </p>
    );
  const failed = checked.checks.filter((check) => check.status === 'fail');
  const signature = checked.checks.find((check) => check.name === 'signature');
  const verdict = failed.length > 0 ? 'failed' : 'untrusted-signer';
  const reason =
    failed.length > 0
      ? `the ${failed.map((check) => checkLabels[check.name].toLowerCase()).join(', ')} check${failed.length === 1 ? '' : 's'} did not pass.`
      : signature?.status === 'pass'
        ? `every check passed, with the signature checked against the key the run's evidence names (${checked.keyIds.join(', ')}): a key this server sent, not one you vouched for.`
        : keysReadable
          ? 'the signature was not checked.'
          : runEnded
            ? "the signature was not checked: the server's key comes with the run's evidence, which this session may not read (audit:read)."
            : "the signature was not checked: the server's key comes with the run's evidence, issued once the run has ended.";
  return (
    <section class="in-page-checks provenance-checks" aria-label="Provenance checks in this page">
      <div class="verdict-block">
        <span class="verdict" data-verdict={verdict}>
          <Icon name={verdict === 'failed' ? 'circle-x' : 'circle-alert'} />
          {verdict === 'failed' ? 'Failed' : signature?.status === 'pass' ? 'Consistent, not verified' : 'Not verified'}
        </span>
        <span class="verdict-reason hint">{reason}</span>
      </div>
      <ChecksTable checks={checked.checks} labels={checkLabels} />
    </section>
  );
}

/**
 * The delivered provenance's exact stored bytes against the digest the delivery recorded, then
 * `verifyProvenance` (the code `cairn verify provenance` runs) with the delivered item's patch and,
 * when the session can read them, the keys of the run's evidence bundle.
 */
async function checkProvenance(api: DashboardApi, runId: string, delivery: ItemDelivery, keysReadable: boolean): Promise<Checked> {
  const { verifyProvenance, sha256Digest } = await import('./provenance-verifier.ts');
  const bytesOf = async (path: string) => new Uint8Array(await (await api.blob(path)).arrayBuffer());
  const run = `/v1/runs/${encodeURIComponent(runId)}`;
  const [bytes, patch, keys] = await Promise.all([
    bytesOf(`/v1/blobs/${encodeURIComponent(delivery.provenance.digest)}`),
    bytesOf(`${run}/items/${encodeURIComponent(delivery.from)}/patch`),
    keysReadable
      ? api
          .blob(`${run}/bundle`)
          .then(async (blob) => (JSON.parse(await blob.text()) as EvidenceBundleV1).keys)
          .catch(() => [] as readonly PublicKeyRecord[])
      : Promise.resolve([] as readonly PublicKeyRecord[]),
  ]);
  const actual = sha256Digest(bytes);
  const digest: PageCheck =
    actual === delivery.provenance.digest
      ? { name: 'digest', status: 'pass', detail: `the ${bytes.byteLength} bytes served hash to ${actual}, the digest the delivery recorded` }
      : { name: 'digest', status: 'fail', detail: `the bytes served hash to ${actual}, but the delivery recorded ${delivery.provenance.digest}` };
  if (keys.length === 0) {
    const detail = "not checked: no key of the server's to check the signature with";
    return {
      checks: [digest, ...(['bundle', 'signature', 'statement', 'subject'] as const).map((name) => ({ name, status: 'not-checked' as const, detail }))],
      keyIds: [],
    };
  }
  const report = verifyProvenance(bytes, { trustedKeys: keys, patch });
  return { checks: [digest, ...report.checks], keyIds: keys.map((key) => key.keyId) };
}

/** The deliveries of a run's items (those that delivered), each as its panel; `except` is shown elsewhere (the open item's panel). */
export function RunDeliveries({
  api,
  runId,
  items,
  except,
  runEnded,
  mayReadEvidence,
}: {
  readonly api: DashboardApi;
  readonly runId: string;
  readonly items: ReadonlyMap<string, ItemSummary>;
  readonly except: string | null;
  readonly runEnded: boolean;
  readonly mayReadEvidence: boolean;
}) {
  const delivered = [...items.values()].flatMap((item) => {
    const delivery = deliveryOf(item);
    return delivery === null || item.itemId === except ? [] : [{ itemId: item.itemId, delivery }];
  });
  if (delivered.length === 0) return null;
  return (
    <section class="deliveries" aria-label="Deliveries">
      {delivered.map(({ itemId, delivery }) => (
        <DeliveryPanel key={itemId} api={api} runId={runId} itemId={itemId} delivery={delivery} runEnded={runEnded} mayReadEvidence={mayReadEvidence} />
      ))}
    </section>
  );
}
