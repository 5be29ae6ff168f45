import { expect } from 'vitest';

/** Asserts that each `[query, path]` sent to `route` is a 400 CAIRN_PAYLOAD_INVALID naming `path`. */
export async function expectQueryRefusals(
  api: (path: string) => Promise<Response>,
  route: string,
  cases: readonly (readonly [query: string, path: string])[],
): Promise<void> {
  for (const [query, path] of cases) {
    const response = await api(`${route}?${query}`);
    expect(response.status, query).toBe(400);
    expect(await response.json(), query).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path });
  }
}
