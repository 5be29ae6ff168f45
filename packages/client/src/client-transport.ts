// How the client calls the server: the base URL and token on every request, errors as CairnErrors,
// a streamed file upload, and content-addressed answers checked against their digest.
import { CairnError } from '@cairn/protocol/errors';
import type { CheckedCairnClientSettings } from './cairn-client-settings.ts';
import type { HttpAnswer } from './http-answer.ts';
import { httpRequest } from './http-request.ts';
import { postFile } from './post-file.ts';
import { answerError, unreachable, type ErrorAnswer } from './server-errors.ts';

/** What a request sends. */
export type RequestBody = string | Uint8Array;

/** The calls every method of the client is made of. */
export class ClientTransport {
  readonly settings: CheckedCairnClientSettings;

  constructor(settings: CheckedCairnClientSettings) {
    this.settings = settings;
  }

  /**
   * One call: its answer when the server answers 2xx; the CairnError it answers otherwise; CAIRN_SERVER_UNREACHABLE
   * when it cannot be reached. The caller reads the answer's body, or discards it.
   */
  async request(method: string, path: string, body?: RequestBody, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<HttpAnswer> {
    const url = `${this.settings.baseUrl.replace(/\/$/, '')}${path}`;
    let response: HttpAnswer;
    try {
      response = await httpRequest(url, {
        method,
        headers: { ...(this.settings.token ? { authorization: `Bearer ${this.settings.token}` } : {}), ...headers },
        ...(body === undefined ? {} : { body }),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw unreachable(url, (error as Error & { cause?: unknown }).cause ?? error, error);
    }
    if (response.ok) return response;
    throw answerError(method, url, response.status, (await response.json().catch(() => ({}))) as ErrorAnswer);
  }

  /** One call's JSON answer. */
  async json<T>(method: string, path: string, body?: RequestBody, headers: Record<string, string> = {}): Promise<T> {
    return (await (await this.request(method, path, body, headers)).json()) as T;
  }

  /** POSTs a file, streamed (see `postFile`), and returns the JSON answer; errors as `request` reports them. */
  async postFile(path: string, file: string, headers: Record<string, string>): Promise<unknown> {
    const url = `${this.settings.baseUrl.replace(/\/$/, '')}${path}`;
    let answer: { status: number; text: string };
    try {
      answer = await postFile(url, file, { ...(this.settings.token ? { authorization: `Bearer ${this.settings.token}` } : {}), ...headers });
    } catch (error) {
      throw unreachable(url, error);
    }
    const parsed = (() => {
      try {
        return JSON.parse(answer.text) as unknown;
      } catch {
        return {};
      }
    })();
    if (answer.status >= 200 && answer.status < 300) return parsed;
    throw answerError('POST', url, answer.status, parsed as ErrorAnswer);
  }

  /**
   * The bytes of a content-addressed answer (it names its digest in `x-cairn-digest`), checked
   * against that digest here too. A body cut off mid-way is asked for once more: a server that
   * found the stored bytes altered while streaming them answers the second request with the
   * CAIRN_DIGEST_MISMATCH it is; a second cut is CAIRN_SERVER_UNREACHABLE.
   */
  async contentAddressed(path: string, retried = false): Promise<Uint8Array> {
    const response = await this.request('GET', path);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      if (!retried) return this.contentAddressed(path, true);
      throw new CairnError('CAIRN_SERVER_UNREACHABLE', `The answer to GET ${path} was cut off twice before its end: ${(error as Error).message}.`, {
        path: 'baseUrl',
        cause: error,
      });
    }
    const digest = response.headers.get('x-cairn-digest');
    if (digest !== null) {
      const actual = `sha256:${Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
      if (actual !== digest)
        throw new CairnError(
          'CAIRN_DIGEST_MISMATCH',
          `GET ${path} answered bytes that hash to ${actual}, not ${digest}: they were altered on the way or in storage.`,
          { details: { expected: digest, actual } },
        );
    }
    return bytes;
  }
}

/** `?name=value&...` of the options that are set ('' when none is). */
export function query(options: object): string {
  const parameters = new URLSearchParams();
  for (const [name, value] of Object.entries(options) as [string, unknown][]) if (value !== undefined) parameters.set(name, String(value));
  const text = parameters.toString();
  return text === '' ? '' : `?${text}`;
}

/** The path of an item of a run. */
export function itemPath(runId: string, itemId: string): string {
  return `/v1/runs/${encodeURIComponent(runId)}/items/${encodeURIComponent(itemId)}`;
}
