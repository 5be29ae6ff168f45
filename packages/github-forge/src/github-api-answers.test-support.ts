import type { ServerResponse } from 'node:http';

/** Where GitHub's error bodies point. */
export const documentation = 'https://docs.github.com/rest';

/** A GitHub error answer: its status and body (`{ message, errors?, documentation_url, status }`). */
export class HttpFailure extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, body: Record<string, unknown>) {
    super(String(body['message']));
    this.status = status;
    this.body = body;
  }
}

export const notFound = (): HttpFailure => new HttpFailure(404, { message: 'Not Found', documentation_url: documentation, status: '404' });

export const validation = (errors: Record<string, unknown>[]): HttpFailure =>
  new HttpFailure(422, { message: 'Validation Failed', errors, documentation_url: `${documentation}/pulls/pulls`, status: '422' });

/** An answer of a route: its status, its JSON body, and the headers it adds (a redirect's `Location`). */
export type RouteAnswer = readonly [status: number, body: unknown, headers?: Record<string, string>];

/** Writes a JSON answer with the headers GitHub's API sends on every one. */
export function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'X-GitHub-Media-Type': 'github.v3; format=json',
    'X-RateLimit-Limit': '5000',
    'X-RateLimit-Remaining': '4999',
    ...headers,
  });
  response.end(status === 302 || status === 204 ? undefined : JSON.stringify(body));
}
