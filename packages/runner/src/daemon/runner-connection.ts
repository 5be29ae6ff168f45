import {
  CairnError,
  errorCatalogue,
  parsePayload,
  runnerExitsAnswerSchema,
  runnerPollAnswerSchema,
  type CairnErrorCode,
  type RunnerExit,
  type RunnerExitsAnswer,
  type RunnerPollAnswer,
  type RunnerPollRequest,
} from '@cairn/protocol';

/** How long past its own wait a poll may go unanswered before the server counts as unreachable. */
const pollAnswerMarginMs = 10_000;
/** How long an exits report may take. */
const exitsTimeoutMs = 30_000;

/**
 * The server could not be reached, or answered in a way that may pass (5xx, 429, an answer cut
 * short): the runner keeps its attempts and tries again later. Never leaves the runner.
 */
export class ServerUnavailable extends Error {
  override readonly name = 'ServerUnavailable';
}

/**
 * A runner's two calls to its server (ADR 0050), `POST /v1/runner/poll` and `POST /v1/runner/exits`,
 * with its token as a bearer token. A failure that may pass throws `ServerUnavailable`; a refusal
 * that will not (401, 403, a version refused, any other 4xx) throws a CairnError saying what to do.
 */
export class RunnerConnection {
  readonly #base: string;
  readonly #token: string;
  readonly #version: string;

  constructor(server: string, token: string, version: string) {
    this.#base = server.replace(/\/+$/, '');
    this.#token = token;
    this.#version = version;
  }

  async poll(request: RunnerPollRequest, signal: AbortSignal): Promise<RunnerPollAnswer> {
    const waitMs = request.waitMs ?? 25_000;
    const answer = await this.#post('/v1/runner/poll', request, AbortSignal.any([signal, AbortSignal.timeout(waitMs + pollAnswerMarginMs)]));
    return parseAnswer(() => parsePayload(runnerPollAnswerSchema, answer, 'the answer to a poll'));
  }

  async reportExits(exits: readonly RunnerExit[], signal: AbortSignal): Promise<RunnerExitsAnswer> {
    const answer = await this.#post('/v1/runner/exits', { exits }, AbortSignal.any([signal, AbortSignal.timeout(exitsTimeoutMs)]));
    return parseAnswer(() => parsePayload(runnerExitsAnswerSchema, answer, 'the answer to an exits report'));
  }

  async #post(path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    const url = `${this.#base}${path}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal,
      });
      text = await response.text();
    } catch (error) {
      if (signal.aborted && !isTimeout(signal)) throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ServerUnavailable(`cannot reach ${url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`, { cause: error });
    }
    const parsed = parseJson(text);
    if (response.ok) return parsed;
    const refusal = refusalOf(parsed);
    const said = refusal.message === undefined ? '' : `: ${refusal.message}`;
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      throw new ServerUnavailable(`${url} answered ${response.status}${refusal.code === undefined ? '' : ` ${refusal.code}`}${said}`);
    }
    if (response.status === 401) {
      throw new CairnError(
        'CAIRN_UNAUTHENTICATED',
        `The server at ${this.#base} refused the runner's token (401${said}): it is unknown, expired or revoked. The runner took no more work and stopped its attempts.`,
        {
          path: 'CAIRN_RUNNER_TOKEN',
          action:
            "Make a runner token in the server's folder (`cairn token create --name NAME --scope runners:run`), set CAIRN_RUNNER_TOKEN to it and start the runner again.",
        },
      );
    }
    if (response.status === 403) {
      throw new CairnError(
        'CAIRN_FORBIDDEN',
        `The server at ${this.#base} refused the runner's token (403${said}): a runner's token needs the scope runners:run. The runner took no more work and stopped its attempts.`,
        {
          path: 'CAIRN_RUNNER_TOKEN',
          action: 'Make a token with the scope runners:run (`cairn token create --name NAME --scope runners:run`) and set CAIRN_RUNNER_TOKEN to it.',
        },
      );
    }
    if (refusal.code === 'CAIRN_RUNNER_VERSION') {
      throw new CairnError(
        codeOf(refusal.code),
        `The server at ${this.#base} refused this runner's version ${this.#version}${said}. Install the runner of the server's version (the same minor version) and start it again.`,
        { path: 'version', details: { runnerVersion: this.#version } },
      );
    }
    // Any other refusal (400, 404, 413) will not pass by asking again: the two disagree on the protocol.
    throw new CairnError(
      codeOf(refusal.code),
      `The server at ${this.#base} refused ${path} (${response.status}${refusal.code === undefined ? '' : ` ${refusal.code}`}${said}): is it a Cairn server of this runner's version (${this.#version})?`,
      { path },
    );
  }
}

function isTimeout(signal: AbortSignal): boolean {
  return (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError';
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function refusalOf(body: unknown): { code?: string; message?: string } {
  if (typeof body !== 'object' || body === null) return {};
  const { code, message } = body as { code?: unknown; message?: unknown };
  return { ...(typeof code === 'string' ? { code } : {}), ...(typeof message === 'string' ? { message: message.slice(0, 1_024) } : {}) };
}

/** The server's own error code when the catalogue knows it; a protocol disagreement otherwise. */
function codeOf(code: string | undefined): CairnErrorCode {
  return code !== undefined && Object.hasOwn(errorCatalogue, code) ? (code as CairnErrorCode) : 'CAIRN_PAYLOAD_INVALID';
}

/** An answer that does not match its schema is a server mid-upgrade or a proxy's page: it may pass. */
function parseAnswer<Answer>(parse: () => Answer): Answer {
  try {
    return parse();
  } catch (error) {
    throw new ServerUnavailable((error as Error).message, { cause: error });
  }
}
