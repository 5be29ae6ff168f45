import { ApiError } from './api-error.ts';

/**
 * The server's public HTTP API as the dashboard uses it: fetch with the session's bearer token
 * (none in loopback-operator mode), errors as ApiError. `@cairn/client` is not bundled: it loads
 * run specs and snapshots workspaces with Node modules, and its zod schemas alone would take most
 * of the page's budget; the dashboard only needs typed fetches.
 */
export class DashboardApi {
  readonly token: string | null;

  constructor(token: string | null) {
    this.token = token;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token === null ? {} : { authorization: `Bearer ${this.token}` }), ...extra };
  }

  async request(method: string, path: string, init: { body?: string; signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers: this.headers({ ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers }),
        cache: 'no-store',
        ...(init.body === undefined ? {} : { body: init.body }),
        ...(init.signal === undefined ? {} : { signal: init.signal }),
      });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new ApiError(
        0,
        'CAIRN_SERVER_UNREACHABLE',
        `The server did not answer ${method} ${path}: ${error instanceof Error ? error.message : String(error)}.`,
      );
    }
    if (!response.ok) throw await ApiError.of(response, `${method} ${path}`);
    return response;
  }

  async json<T>(path: string, signal?: AbortSignal): Promise<T> {
    return (await (await this.request('GET', path, signal === undefined ? {} : { signal })).json()) as T;
  }

  async text(path: string, signal?: AbortSignal): Promise<string> {
    return (await this.request('GET', path, signal === undefined ? {} : { signal })).text();
  }

  async blob(path: string): Promise<Blob> {
    return (await this.request('GET', path)).blob();
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return (await (await this.request('POST', path, { body: JSON.stringify(body) })).json()) as T;
  }
}
