import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/api-error.ts';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { downloadBytes } from '../api/download-bytes.ts';
import { When } from '../time-format.tsx';

/** The fields of a `cairn.manifest/v1` payload the view shows (the raw JSON shows the rest). */
interface ManifestPayload {
  readonly version?: string;
  readonly issuedAt?: string;
  readonly effect?: string;
  readonly runtime?: {
    readonly kind: string;
    readonly argv?: readonly string[];
    readonly adapter?: string;
    readonly model?: string;
    readonly prompt?: string;
    /** A merge's items (a list), or the item a delivery delivers. */
    readonly from?: readonly string[] | string;
    readonly forge?: string;
    readonly branch?: string;
    readonly base?: string;
  };
  readonly workspace?: string;
  readonly inputs?: Readonly<Record<string, { readonly from?: string; readonly select?: unknown; readonly digest?: string }>>;
  readonly apply?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly secretNames?: readonly string[];
  readonly limits?: { readonly timeoutMs?: number; readonly network?: boolean; readonly isolation?: string; readonly pathRules?: string };
}

/** A manifest as read: the exact bytes served, the envelope's signers and its decoded payload. */
interface LoadedManifest {
  readonly digest: string;
  readonly bytes: Blob;
  readonly envelopeText: string;
  readonly payloadType: string;
  readonly keyIds: readonly string[];
  readonly payload: ManifestPayload;
  readonly payloadText: string;
  /** Whether the bytes hash to the digest: null where the browser cannot hash (not a secure context). */
  readonly digestMatches: boolean | null;
  /** Where it sits in the batch its dispatch pass signed once (ADR 0026); absent when signed alone. */
  readonly batch?: { readonly index: number; readonly size: number };
}

type ManifestState =
  { readonly kind: 'loading' } | { readonly kind: 'loaded'; readonly manifest: LoadedManifest } | { readonly kind: 'unreadable'; readonly reason: string };

/**
 * The signed dispatch manifest of one attempt: everything the engine fixed at dispatch (what runs,
 * from which workspace and inputs, with which environment names, secret names and limits), who
 * signed it, the raw JSON, and a download of the exact bytes stored under its digest, so what the
 * page shows can be checked against the evidence with other tools.
 */
export function ItemManifest({
  api,
  digest,
  attempt,
  fileName,
  onError,
}: {
  readonly api: DashboardApi;
  readonly digest: string;
  readonly attempt: number;
  readonly fileName: string;
  readonly onError: (failure: unknown) => void;
}) {
  const [state, setState] = useState<ManifestState>({ kind: 'loading' });
  useEffect(() => {
    let cancelled = false;
    setState({ kind: 'loading' });
    void api
      .blob(`/v1/blobs/${digest}`)
      .then(async (bytes) => {
        const next = await readManifest(digest, bytes);
        if (!cancelled) setState(next);
      })
      .catch((failure: unknown) => {
        if (cancelled) return;
        if (failure instanceof ApiError && failure.status === 404)
          setState({ kind: 'unreadable', reason: `No manifest ${digest} is in the server's storage.` });
        else onError(failure);
      });
    return () => {
      cancelled = true;
    };
  }, [api, digest]);
  return (
    <section class="item-manifest" aria-label={`Manifest of attempt ${attempt}`}>
      <h3>Manifest of attempt {attempt}</h3>
      <dl class="manifest-fields">
        <dt>Digest</dt>
        <dd>
          <code class="manifest-digest">{digest}</code>
          {state.kind === 'loaded' && state.manifest.digestMatches !== null && (
            <span class={state.manifest.digestMatches ? 'hint' : 'manifest-mismatch'}>
              {state.manifest.digestMatches ? ' · the bytes match it' : ' · the bytes served do NOT match it'}
            </span>
          )}
        </dd>
        {state.kind === 'loaded' && <ManifestFields manifest={state.manifest} />}
      </dl>
      {state.kind === 'loading' && <p class="loading">Loading the manifest…</p>}
      {state.kind === 'unreadable' && <p class="empty">{state.reason}</p>}
      {state.kind === 'loaded' && (
        <>
          <details class="manifest-raw">
            <summary>Raw JSON</summary>
            <p class="hint">The signed payload, decoded:</p>
            <pre>{state.manifest.payloadText}</pre>
            <p class="hint">The envelope as stored:</p>
            <pre>{state.manifest.envelopeText}</pre>
          </details>
          <button type="button" onClick={() => downloadBytes(state.manifest.bytes, fileName)}>
            Download the manifest
          </button>
        </>
      )}
    </section>
  );
}

function ManifestFields({ manifest }: { readonly manifest: LoadedManifest }) {
  const { payload } = manifest;
  const runtime = payload.runtime;
  const inputs = Object.entries(payload.inputs ?? {});
  const envNames = Object.keys(payload.env ?? {});
  const secretNames = payload.secretNames ?? [];
  const limits = payload.limits ?? {};
  return (
    <>
      <dt>Signed by</dt>
      <dd class="manifest-signers">
        {manifest.keyIds.length === 0 ? 'no signature' : manifest.keyIds.map((keyId) => <code key={keyId}>{keyId}</code>)}
        <span class="hint"> · {manifest.payloadType}</span>
        {manifest.batch && (
          <span class="hint">
            {' '}
            · signed once with the {manifest.batch.size} manifests of its dispatch pass (leaf {manifest.batch.index})
          </span>
        )}
      </dd>
      <dt>Runtime</dt>
      <dd class="manifest-runtime">
        {runtime === undefined ? (
          '—'
        ) : runtime.kind === 'command' ? (
          <code class="manifest-argv">{JSON.stringify(runtime.argv ?? [])}</code>
        ) : runtime.kind === 'merge' ? (
          <>
            merge of <code class="manifest-merge">{[runtime.from ?? []].flat().join(', ')}</code>
          </>
        ) : runtime.kind === 'deliver' ? (
          <span class="manifest-deliver">
            deliver <code>{runtime.from}</code> to <code>{runtime.forge}</code> as <code>{runtime.branch}</code> on <code>{runtime.base}</code>
          </span>
        ) : runtime.kind === 'agent' ? (
          <>
            agent <code>{runtime.adapter}</code>
            {runtime.model !== undefined && (
              <>
                {' '}
                model <code>{runtime.model}</code>
              </>
            )}
          </>
        ) : (
          // A kind this dashboard does not know: named as it is, the raw JSON below says the rest.
          <code>{runtime.kind}</code>
        )}
        {payload.effect !== undefined && <span class="hint"> · {payload.effect}</span>}
      </dd>
      <dt>Workspace</dt>
      <dd>
        <code class="manifest-workspace">{payload.workspace ?? '—'}</code>
      </dd>
      <dt>Inputs</dt>
      <dd class="manifest-inputs">
        {inputs.length === 0 ? (
          'none'
        ) : (
          <ul>
            {inputs.map(([name, input]) => (
              <li key={name} data-input={name}>
                {name} from <code>{input.from}</code>
                {typeof input.select === 'string' ? ` (${input.select})` : ''}: <code>{input.digest}</code>
                {payload.apply?.includes(name) ? <span class="hint"> · applied</span> : ''}
              </li>
            ))}
          </ul>
        )}
      </dd>
      <dt>Environment</dt>
      <dd class="manifest-env">{envNames.length === 0 ? 'none' : envNames.map((name) => <code key={name}>{name}</code>)}</dd>
      <dt>Secrets</dt>
      <dd class="manifest-secrets">
        {secretNames.length === 0 ? 'none' : secretNames.map((name) => <code key={name}>{name}</code>)}
        {secretNames.length > 0 && <span class="hint"> · names only: values are handed out of band</span>}
      </dd>
      <dt>Limits</dt>
      <dd class="manifest-limits">
        timeout {limits.timeoutMs === undefined ? '—' : milliseconds(limits.timeoutMs)} · network {limits.network === true ? 'on' : 'off'} · isolation{' '}
        {limits.isolation ?? 'not declared'}
        {limits.pathRules === 'posix' ? ' · posix path rules' : ''}
      </dd>
      {payload.issuedAt !== undefined && (
        <>
          <dt>Issued</dt>
          <dd>
            <When iso={payload.issuedAt} />
          </dd>
        </>
      )}
    </>
  );
}

/** Reads the envelope and its payload; a manifest that does not parse says why instead of failing the page. */
async function readManifest(digest: string, bytes: Blob): Promise<ManifestState> {
  const raw = new Uint8Array(await bytes.arrayBuffer());
  const envelopeText = new TextDecoder().decode(raw);
  try {
    const stored = JSON.parse(envelopeText) as {
      payloadType?: unknown;
      payload?: unknown;
      signatures?: unknown;
      batch?: unknown;
      manifest?: unknown;
      index?: unknown;
    };
    // Signed alone, a DSSE envelope of the manifest; signed with its dispatch pass (ADR 0026), the
    // manifest beside the envelope of its batch, which holds the signatures.
    const batched = typeof stored.manifest === 'string' && typeof stored.batch === 'object' && stored.batch !== null;
    const envelope = (batched ? stored.batch : stored) as { payloadType?: unknown; payload?: unknown; signatures?: unknown };
    const encoded = batched ? stored.manifest : stored.payload;
    if (typeof encoded !== 'string') throw new Error('it has no payload');
    const payloadText = decodeBase64Text(encoded);
    const payload = JSON.parse(payloadText) as ManifestPayload;
    const keyIds = Array.isArray(envelope.signatures)
      ? envelope.signatures.flatMap((signature: { keyid?: unknown }) => (typeof signature?.keyid === 'string' ? [signature.keyid] : []))
      : [];
    const batchSize = batched && typeof envelope.payload === 'string' ? (JSON.parse(decodeBase64Text(envelope.payload)) as { size?: unknown }).size : undefined;
    return {
      kind: 'loaded',
      manifest: {
        digest,
        bytes,
        envelopeText: JSON.stringify(stored, null, 2),
        payloadType: typeof envelope.payloadType === 'string' ? envelope.payloadType : 'no payload type',
        keyIds,
        payload,
        payloadText: JSON.stringify(payload, null, 2),
        digestMatches: await matches(raw, digest),
        ...(batched && typeof stored.index === 'number' && typeof batchSize === 'number' ? { batch: { index: stored.index, size: batchSize } } : {}),
      },
    };
  } catch (error) {
    return { kind: 'unreadable', reason: `The manifest ${digest} is not a readable DSSE envelope: ${error instanceof Error ? error.message : String(error)}.` };
  }
}

function decodeBase64Text(encoded: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(encoded), (character) => character.charCodeAt(0)));
}

/** Whether `bytes` hash to `digest` (sha256:<hex>); null where WebCrypto is not offered (plain http off loopback). */
async function matches(bytes: Uint8Array<ArrayBuffer>, digest: string): Promise<boolean | null> {
  if (globalThis.crypto?.subtle === undefined) return null;
  const hash = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
  return `sha256:${Array.from(hash, (byte) => byte.toString(16).padStart(2, '0')).join('')}` === digest;
}

function milliseconds(value: number): string {
  if (value % 3_600_000 === 0) return `${value / 3_600_000} h`;
  if (value % 60_000 === 0) return `${value / 60_000} min`;
  if (value % 1_000 === 0) return `${value / 1_000} s`;
  return `${value} ms`;
}
