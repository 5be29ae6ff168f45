import { useEffect, useState } from 'preact/hooks';
import type { DashboardApi } from './dashboard-api.ts';
import type { Permissions } from './permissions.ts';

/**
 * An actor as people call it: a token by the name it was given (`token:9f73…` → `ana`, when the
 * session may list tokens), a person signed in with OIDC by their subject (`https://idp#dee` →
 * `dee`), anything else (`engine`, `schedule:nightly`) as it is. The id stays the one to filter by.
 */
export function actorLabel(actorId: string, tokenNames: ReadonlyMap<string, string>): string {
  const named = tokenNames.get(actorId);
  if (named !== undefined) return named;
  const subject = /^https?:\/\/[^#\s]+#(.+)$/.exec(actorId);
  return subject ? subject[1]! : actorId;
}

/** The names of the server's tokens by actor id (`token:<id>`), read once when the session may list them (`tokens.manage`); empty otherwise. */
export function useTokenNames(api: DashboardApi, permissions: Permissions): ReadonlyMap<string, string> {
  const may = permissions.may('tokens.manage');
  const [names, setNames] = useState<ReadonlyMap<string, string>>(new Map());
  useEffect(() => {
    if (!may) return;
    const controller = new AbortController();
    void api
      .json<{ id: string; name: string }[]>('/v1/tokens', controller.signal)
      .then((tokens) => setNames(new Map(tokens.map((token) => [`token:${token.id}`, token.name]))))
      // Names are a courtesy: without them the ids show, as for a session that may not list tokens.
      .catch(() => undefined);
    return () => controller.abort();
  }, [api, may]);
  return names;
}
