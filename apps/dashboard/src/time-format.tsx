import { useEffect, useState } from 'preact/hooks';

/**
 * How the dashboard writes times and durations, everywhere: a moment as relative text ("5 min
 * ago", "in 2 h") with its exact ISO 8601 time on hover and in `datetime`; a duration as "850 ms",
 * "3.2 s", "4 min 5 s", "2 h 3 min". One module, so a run's list, its graph, its timeline and an
 * item's attempts say the same thing the same way.
 */

/** A duration in milliseconds as text: ms below a second, one decimal below a minute, then whole units. */
export function durationText(milliseconds: number): string {
  const ms = Math.max(0, Math.round(milliseconds));
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const seconds = Math.floor(ms / 1_000);
  if (seconds < 3_600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  return `${Math.floor(minutes / 1_440)} d ${Math.floor((minutes % 1_440) / 60)} h`;
}

/** The time from `from` to `to` (ISO 8601), or to `now` while it lasts (`to` null). */
export function durationBetween(from: string, to: string | null, now = Date.now()): number {
  return Math.max(0, (to === null ? now : Date.parse(to)) - Date.parse(from));
}

/** `iso` relative to `now`: "just now", "12 s ago", "5 min ago", "3 h ago", "4 d ago", or "in …" ahead. */
export function relativeText(iso: string, now = Date.now()): string {
  const difference = Date.parse(iso) - now;
  if (Number.isNaN(difference)) return iso;
  const ahead = difference > 0;
  const seconds = Math.round(Math.abs(difference) / 1_000);
  if (seconds < 5) return 'just now';
  const amount =
    seconds < 60
      ? `${seconds} s`
      : seconds < 3_600
        ? `${Math.floor(seconds / 60)} min`
        : seconds < 86_400
          ? `${Math.floor(seconds / 3_600)} h`
          : seconds < 86_400 * 60
            ? `${Math.floor(seconds / 86_400)} d`
            : null;
  // Two months away or more, a relative figure helps nobody: the date itself.
  if (amount === null) return iso.slice(0, 10);
  return ahead ? `in ${amount}` : `${amount} ago`;
}

/** The current time, moving every `intervalMs` (relative times and running durations stay true). */
export function useNow(intervalMs = 10_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/** A moment as relative text, its ISO 8601 time in `datetime` and on hover. */
export function When({ iso }: { readonly iso: string }) {
  const now = useNow();
  return (
    <time class="when" dateTime={iso} title={iso}>
      {relativeText(iso, now)}
    </time>
  );
}

/** A duration from `from` to `to` (or to now while it lasts), its bounds on hover. */
export function Duration({ from, to }: { readonly from: string; readonly to: string | null }) {
  const now = useNow(1_000);
  return (
    <span class="duration" title={`${from} to ${to ?? 'now'}`} data-ms={durationBetween(from, to, now)}>
      {durationText(durationBetween(from, to, now))}
    </span>
  );
}
