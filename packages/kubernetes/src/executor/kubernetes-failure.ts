import { CairnError, type CairnErrorCode } from '@cairn/protocol';

/** The status code and the Kubernetes `Status` message of an error the client threw, read defensively. */
export function kubernetesErrorParts(error: unknown): { code: number | undefined; reason: string | undefined; message: string | undefined } {
  const { code, body, message } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; body?: unknown; message?: string };
  let status: { reason?: string; message?: string } = {};
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body) as typeof status;
    } catch {
      status = {};
    }
  } else if (typeof body === 'object' && body !== null) status = body as typeof status;
  return { code: typeof code === 'number' ? code : undefined, reason: status.reason, message: status.message ?? message };
}

/** The answer was this HTTP status. */
export const answeredWith = (error: unknown, code: number): boolean => kubernetesErrorParts(error).code === code;

/**
 * A Kubernetes API failure as a CairnError saying which call failed on what, what the API server
 * answered and what to do. No answer, 429 and 5xx are CAIRN_EXECUTOR_UNAVAILABLE (the engine tries
 * again); a refusal is `refusal`. The fix names the executor's options under `settingsPath` (where
 * the host keeps them). The client's error stays as `cause`.
 */
export function kubernetesFailure(error: unknown, operation: string, subject: string, refusal: CairnErrorCode, path: string, settingsPath: string): CairnError {
  const { code, reason, message } = kubernetesErrorParts(error);
  const answered = code !== undefined ? `the API server answered ${code}${reason ? ` ${reason}` : ''}` : `the request failed (${message ?? String(error)})`;
  const detail = code !== undefined && message ? `: ${message}` : '';
  const fix =
    code === undefined
      ? `check that the API server in ${settingsPath}.kubeConfig is reachable from the server, and its certificate`
      : code === 401
        ? `the credential in ${settingsPath}.kubeConfig is refused: renew the token or the service account's`
        : code === 403
          ? `the server's identity may not do this in ${settingsPath}.namespace: bind it to a Role allowing pods (create, get, list, watch, delete), secrets and networkpolicies (create, get, delete, list) there`
          : code === 422 || code === 400
            ? `the API server refused the object (the message names the field): check ${settingsPath}.podTemplate and ${settingsPath}.network`
            : code === 429 || code >= 500
              ? 'the API server is overloaded or failing: the engine tries again'
              : 'check the executor settings and the namespace';
  const unavailable = code === undefined || code === 429 || code >= 500;
  return new CairnError(
    unavailable ? 'CAIRN_EXECUTOR_UNAVAILABLE' : refusal,
    `[cairn] [kubernetes] ${operation} ${subject} failed: ${answered}${detail}. Fix: ${fix}.`,
    {
      path,
      cause: error,
    },
  );
}
