import { useEffect, useState } from 'preact/hooks';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { downloadBytes } from '../api/download-bytes.ts';
import type { components } from '../api/openapi.d.ts';

type AttemptEnvironment = components['schemas']['AttemptEnvironment'];

/** The most of a setup log the page shows (its end): the log is bounded at 1 MiB by the executor. */
const shownCharacters = 200_000;

/**
 * The warm environment an attempt ran over (ADR 0056): its digest (shortened; the whole in its
 * title), whether the attempt built it or reused a layer built before, the setup's time, the setup's
 * log a click away (read when asked for, as GET /v1/blobs serves it), and, when the setup ran behind
 * the item's allow-list, its egress record to download. Nothing for an attempt without one.
 */
export function ItemEnvironment({
  api,
  environment,
  attempt,
  onError,
}: {
  readonly api: DashboardApi;
  readonly environment: AttemptEnvironment | undefined;
  readonly attempt: number;
  readonly onError: (failure: unknown) => void;
}) {
  const [log, setLog] = useState<string | null>(null);
  const [open, setOpen] = useState(false);
  const logDigest = environment?.log;
  // Another attempt (or environment) shown: its own log is read when asked for.
  useEffect(() => {
    setLog(null);
    setOpen(false);
  }, [logDigest]);
  useEffect(() => {
    if (!open || log !== null || logDigest === undefined) return;
    let cancelled = false;
    void api
      .text(`/v1/blobs/${logDigest}`)
      .then((text) => {
        if (!cancelled) setLog(text);
      })
      .catch((failure: unknown) => {
        if (!cancelled) onError(failure);
      });
    return () => {
      cancelled = true;
    };
  }, [api, open, log, logDigest]);
  if (environment === undefined) return null;
  const seconds = `${(environment.setupMs / 1_000).toFixed(1)} s`;
  const headingId = `environment-${attempt}`;
  const downloadEgress = async (digest: string) => {
    try {
      downloadBytes(await api.blob(`/v1/blobs/${digest}`), `environment-${environment.digest.slice(7, 19)}.egress.ndjson`);
    } catch (failure) {
      onError(failure);
    }
  };
  return (
    <section class="item-environment" aria-labelledby={headingId}>
      <h3 id={headingId}>Environment</h3>
      <p class="environment-summary">
        Attempt {attempt} ran over environment <code title={environment.digest}>{shortDigest(environment.digest)}</code>:{' '}
        {environment.built ? <>it built it, the setup took {seconds}</> : <>reused, built before by a setup that took {seconds}</>}.
      </p>
      <p class="environment-actions">
        <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'Hide the setup log' : 'Show the setup log'}
        </button>{' '}
        {environment.egress !== undefined && (
          <button type="button" onClick={() => void downloadEgress(environment.egress!)}>
            Download the setup's egress record
          </button>
        )}
      </p>
      {open && (
        <pre class="log-output environment-log" aria-label="Setup log">
          {log === null ? <span class="loading">Loading the setup log…</span> : log === '' ? <span class="empty">(no output)</span> : tail(log)}
        </pre>
      )}
    </section>
  );
}

/** `sha256:` and the first 12 hex digits, then an ellipsis (as `cairn status` shows it). */
function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return digest.length > colon + 13 ? `${digest.slice(0, colon + 13)}…` : digest;
}

function tail(log: string): string {
  return log.length <= shownCharacters ? log : `… ${log.slice(log.length - shownCharacters)}`;
}
