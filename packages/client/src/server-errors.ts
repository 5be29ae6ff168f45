// What a call throws when the server cannot be reached or answers an error: the CairnError it is.
// The errors alone at import (no schema, no YAML parser): a command that only reads a run starts
// light; the run-spec checks `submit` needs are imported when it runs.
import { CairnError, errorCodes, type CairnErrorCode } from '@cairn/protocol/errors';

/** The body of a Cairn error answer. */
export interface ErrorAnswer {
  readonly code?: string;
  readonly message?: string;
  readonly action?: string;
  readonly path?: string;
  readonly issues?: { path: string; message: string }[];
}

/** CAIRN_SERVER_UNREACHABLE naming the URL, and why (`reason`: the system error under the failure). */
export function unreachable(url: string, reason: unknown, cause: unknown = reason): CairnError {
  const { code, message } = (reason ?? {}) as { code?: string; message?: string };
  return new CairnError(
    'CAIRN_SERVER_UNREACHABLE',
    `Cannot reach the Cairn server at ${url}: ${code ?? message ?? (cause as Error | undefined)?.message}. Is \`cairn serve\` running there?`,
    {
      path: 'baseUrl',
      details: { url },
      cause,
    },
  );
}

/** The CairnError a server's error answer reports: its code (CAIRN_INTERNAL when unknown), message, path, advice and issues. */
export function answerError(method: string, url: string, status: number, answer: ErrorAnswer): CairnError {
  const code = (errorCodes as readonly string[]).includes(answer.code ?? '') ? (answer.code as CairnErrorCode) : 'CAIRN_INTERNAL';
  return new CairnError(code, answer.message ?? `${method} ${url} answered ${status}.`, {
    ...(answer.path === undefined ? {} : { path: answer.path }),
    // The server's advice for this very error, which may say more than the catalogue's for its code.
    ...(typeof answer.action === 'string' ? { action: answer.action } : {}),
    ...(answer.issues ? { issues: answer.issues.map((issue) => ({ code, ...issue })) } : {}),
  });
}
