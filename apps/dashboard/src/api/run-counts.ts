import type { DashboardApi } from './dashboard-api.ts';

/**
 * Runs by state over the whole server, read from the `cairn_runs{state="..."}` gauge of
 * `GET /metrics` (the API's one place that counts every run; the list is paged).
 */
export async function readRunCounts(api: DashboardApi): Promise<Record<string, number>> {
  const text = await api.text('/metrics');
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^cairn_runs\{state="([a-z-]+)"\} (\d+(?:\.\d+)?)$/gm)) counts[match[1]!] = Number(match[2]);
  return counts;
}
