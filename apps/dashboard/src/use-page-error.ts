import { useCallback, useState } from 'preact/hooks';
import { ApiError } from './api/api-error.ts';

/**
 * A page's error line and the handler its reads fail into. A 401 is not an error to show on the
 * page: the session is gone, and the app asks the reader to sign in again.
 */
export function usePageError(onUnauthenticated: () => void) {
  const [error, setError] = useState<string | null>(null);
  const fail = useCallback(
    (failure: unknown) => {
      if (failure instanceof ApiError && failure.status === 401) return onUnauthenticated();
      setError(failure instanceof Error ? failure.message : String(failure));
    },
    [onUnauthenticated],
  );
  return { error, setError, fail };
}
