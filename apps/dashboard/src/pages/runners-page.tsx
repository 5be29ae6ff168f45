import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api/api-error.ts';
import type { DashboardApi } from '../api/dashboard-api.ts';
import type { components } from '../api/openapi.d.ts';
import type { Permissions } from '../api/permissions.ts';
import { StateBadge } from '../state-badge.tsx';
import { When } from '../time-format.tsx';
import { usePageError } from '../use-page-error.ts';

type Runner = components['schemas']['Runner'];

/** How often the list is read again: runners poll every few seconds, and a lost one shows within a lease. */
const refreshMs = 5_000;

/**
 * The runners (ADR 0050) that polled this server since it started (`GET /v1/runners`, `admin`):
 * each one's token name, version and labels, whether it is connected or lost (silent past the
 * lease: its attempts were recorded lost), drained, its free slots and the attempts it holds, and
 * its last poll; read again every 5 s. **Drain** gives a runner no new attempts (those it holds run
 * to their end) and **Resume** undoes it, as `cairn runners drain|resume` do. A server without
 * runners says how to enable them.
 */
export function RunnersPage({
  api,
  permissions,
  onUnauthenticated,
}: {
  readonly api: DashboardApi;
  readonly permissions: Permissions;
  readonly onUnauthenticated: () => void;
}) {
  const [runners, setRunners] = useState<readonly Runner[] | null>(null);
  const [disabled, setDisabled] = useState<string | null>(null);
  const { error, setError, fail } = usePageError(onUnauthenticated);
  const load = useCallback(async () => {
    try {
      setRunners(await api.json<Runner[]>('/v1/runners'));
      setDisabled(null);
      setError(null);
    } catch (failure) {
      // Runners not enabled: the server's answer says how to enable them.
      if (failure instanceof ApiError && failure.status === 404) return (setDisabled(failure.message), setRunners([]));
      fail(failure);
    }
  }, [api, fail]);
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), refreshMs);
    return () => clearInterval(timer);
  }, [load]);
  const act = async (runner: Runner, action: 'drain' | 'resume') => {
    try {
      await api.post(`/v1/runners/${encodeURIComponent(runner.name)}/${action}`, {});
      await load();
    } catch (failure) {
      fail(failure);
    }
  };
  const mayManage = permissions.may('runners.manage');
  return (
    <main class="runners-page">
      <h1>Runners</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {disabled !== null ? (
        <p class="empty">{disabled}</p>
      ) : runners === null ? (
        <p class="loading">Loading runners…</p>
      ) : runners.length === 0 ? (
        <p class="empty">No runner has polled this server since it started: start one with `cairn runner` (docs/operations/runners.md).</p>
      ) : (
        <table class="runners">
          <thead>
            <tr>
              <th scope="col">Runner</th>
              <th scope="col">Labels</th>
              <th scope="col">State</th>
              <th scope="col">Free slots</th>
              <th scope="col">Held</th>
              <th scope="col">Last poll</th>
              {mayManage && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {runners.map((runner) => (
              <tr key={runner.name} data-runner={runner.name}>
                <th scope="row">
                  {runner.tokenName ?? runner.name}
                  <div class="run-id">
                    {runner.name}, version {runner.version}
                    {runner.tokenRevoked && <strong> — its token is revoked: its next poll is refused</strong>}
                  </div>
                </th>
                <td>{runner.labels.length === 0 ? <span class="empty">none</span> : runner.labels.map((label) => <code key={label}>{label} </code>)}</td>
                <td class="runner-state">
                  <StateBadge state={runner.state} /> {runner.draining && <StateBadge state="draining" />}
                </td>
                <td>{runner.slots}</td>
                <td>{runner.held}</td>
                <td>
                  <When iso={runner.lastSeen} />
                </td>
                {mayManage && (
                  <td>
                    {runner.draining ? (
                      <button type="button" onClick={() => void act(runner, 'resume')}>
                        Resume
                      </button>
                    ) : (
                      <button type="button" onClick={() => void act(runner, 'drain')}>
                        Drain
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
