/** An error answer of the Cairn API (`{ code, message, action }`), or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly action: string;

  constructor(status: number, code: string, message: string, action = '') {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.action = action;
  }

  /** The error of a failed response: the API's error body when it has one. */
  static async of(response: Response, what: string): Promise<ApiError> {
    const body = (await response.json().catch(() => null)) as { code?: unknown; message?: unknown; action?: unknown } | null;
    if (body && typeof body.code === 'string' && typeof body.message === 'string')
      return new ApiError(response.status, body.code, body.message, typeof body.action === 'string' ? body.action : '');
    return new ApiError(response.status, 'CAIRN_INTERNAL', `${what} answered ${response.status} ${response.statusText}.`);
  }
}
