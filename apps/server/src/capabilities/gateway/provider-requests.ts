import type { IncomingMessage } from 'node:http';

// How the gateway reads an agent's request and speaks to a provider: the credential it carries, the
// headers passed on (never the agent's keys), a body read up to a bound, errors in the provider's shape.

/** The providers the gateway forwards to. */
export type Provider = 'anthropic' | 'openai';

/** The Anthropic error type a status is answered with, as the provider itself would. */
export function anthropicErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** The attempt's credential: the forwarder's header, or a key header for a client that calls directly. */
export function credentialOf(request: IncomingMessage): string | undefined {
  const own = request.headers['x-cairn-credential'];
  if (typeof own === 'string') return own;
  const key = request.headers['x-api-key'];
  if (typeof key === 'string') return key;
  const authorization = request.headers.authorization;
  return authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length).trim() : undefined;
}

// The agent's headers that mean something to the provider (API version, beta features); never its keys.
const passedRequestHeaders = ['anthropic-version', 'anthropic-beta', 'openai-beta', 'accept', 'content-type', 'user-agent'];

export function upstreamHeaders(request: IncomingMessage, provider: Provider, key: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const name of passedRequestHeaders) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  if (key !== undefined) {
    if (provider === 'anthropic') headers['x-api-key'] = key;
    else headers['authorization'] = `Bearer ${key}`;
  }
  return headers;
}

export async function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      request.resume();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
