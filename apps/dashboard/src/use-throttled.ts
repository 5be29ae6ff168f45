import { useEffect, useRef } from 'preact/hooks';

/**
 * A function that runs `action` at most once per `milliseconds`, the calls in between folded into
 * one trailing run: a burst of events refreshes a list once, not once per event.
 */
export function useThrottled(action: () => void, milliseconds: number): () => void {
  const latest = useRef(action);
  latest.current = action;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (timer.current !== null) clearTimeout(timer.current);
    },
    [],
  );
  const schedule = useRef(() => {
    if (timer.current !== null) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      latest.current();
    }, milliseconds);
  });
  return schedule.current;
}
