import { useState } from 'preact/hooks';
import type { components } from '../api/openapi.d.ts';
import { egressReasonWords } from './egress-reasons.ts';

type AttemptEgress = components['schemas']['AttemptEgress'];
type EgressRefusal = components['schemas']['EgressRefusal'];

/**
 * The network of an attempt that ran behind an allow-list (ADR 0049): how many connections its
 * egress proxy admitted and refused, and each refusal (the same host, port and reason once, with
 * how many times) with the allow entry that would admit it, ready to copy, or why none would.
 * Nothing for an attempt without an allow-list.
 */
export function ItemEgress({ egress, attempt }: { readonly egress: AttemptEgress | undefined; readonly attempt: number }) {
  if (egress === undefined) return null;
  const refusals = grouped(egress.refusals);
  const unlisted = egress.refused - egress.refusals.length;
  const headingId = `egress-${attempt}`;
  return (
    <section class="item-egress" aria-labelledby={headingId}>
      <h3 id={headingId}>Network</h3>
      <p class="egress-counts">
        Attempt {attempt} ran behind its allow-list: {egress.allowed} connection{egress.allowed === 1 ? '' : 's'} allowed,{' '}
        <span class={egress.refused > 0 ? 'egress-refused' : undefined}>{egress.refused} refused</span>
        {egress.flagged > 0 && (
          <span class="egress-refused">
            {' '}
            · {egress.flagged} credential placeholder{egress.flagged === 1 ? '' : 's'} sent to a host {egress.flagged === 1 ? 'it is' : 'they are'} not bound to
          </span>
        )}
      </p>
      {refusals.length > 0 && (
        <table class="egress-refusals" aria-label={`Connections refused in attempt ${attempt}`}>
          <thead>
            <tr>
              <th scope="col">host:port</th>
              <th scope="col">reason</th>
              <th scope="col">to allow it</th>
            </tr>
          </thead>
          <tbody>
            {refusals.map(({ refusal, times }) => (
              <tr key={`${refusal.host}:${refusal.port}:${refusal.reason}`} data-host={refusal.host}>
                <td>
                  <code>{hostPort(refusal)}</code>
                  {times > 1 && <span class="hint"> ×{times}</span>}
                </td>
                <td>{refusal.reason}</td>
                <td class="egress-advice">
                  {refusal.wouldAdmit === null ? (
                    <span class="hint">{egressReasonWords[refusal.reason] ?? 'not allowable by an allow entry'}</span>
                  ) : (
                    <AllowEntry entry={refusal.wouldAdmit} />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {unlisted > 0 && <p class="hint">{unlisted} more refused: the attempt's egress artifact records every connection.</p>}
    </section>
  );
}

/** "add `entry` to network.allow", with a button that copies the entry (or selects it where the clipboard is closed to the page). */
function AllowEntry({ entry }: { readonly entry: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async (event: MouseEvent) => {
    const code = (event.currentTarget as HTMLElement).parentElement?.querySelector('code');
    try {
      await navigator.clipboard.writeText(entry);
      setCopied(true);
    } catch {
      // Without a secure context there is no clipboard: the entry is selected for Ctrl-C instead.
      if (code) getSelection()?.selectAllChildren(code);
    }
  };
  return (
    <span class="allow-entry">
      add <code>{entry}</code> to <code>network.allow</code>{' '}
      <button type="button" class="copy" aria-label={`Copy ${entry}`} onClick={(event) => void copy(event)}>
        Copy
      </button>
      <span role="status" class="hint">
        {copied ? ' copied' : ''}
      </span>
    </span>
  );
}

function grouped(refusals: readonly EgressRefusal[]): { refusal: EgressRefusal; times: number }[] {
  const groups = new Map<string, { refusal: EgressRefusal; times: number }>();
  for (const refusal of refusals) {
    const key = JSON.stringify([refusal.host, refusal.port, refusal.reason, refusal.wouldAdmit]);
    const known = groups.get(key);
    if (known) known.times += 1;
    else groups.set(key, { refusal, times: 1 });
  }
  return [...groups.values()];
}

function hostPort({ host, port }: EgressRefusal): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
