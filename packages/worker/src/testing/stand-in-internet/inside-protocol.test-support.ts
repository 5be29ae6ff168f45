// What the stand-in internet and the program inside its namespace say to each other, one JSON
// object a line: the configuration and commands on the program's stdin, these messages on its fd 3.
import type { IncomingHttpHeaders } from 'node:http';

/** A request one of the stand-in internet's hosts was sent. */
export interface StandInRequest {
  readonly scheme: 'https' | 'http';
  readonly method: string;
  /** The Host header's name, lower case, without a port. */
  readonly host: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The TLS server name the client sent (HTTPS only, when it sent one). */
  readonly sni?: string;
}

export interface InsideConfiguration {
  /** A folder the program may fill (the repository, verdaccio's storage) and removes at its end. */
  readonly root: string;
  /** The name server's table: each name, lower case, with its IPv4 addresses. */
  readonly table: readonly (readonly [string, readonly string[]])[];
  readonly hosts: { readonly git: string; readonly registry: string; readonly pypi: string };
  readonly tokens: { readonly git: string; readonly npm: string };
  readonly npm: boolean;
  /** The leaf's key and certificate (PEM), for every served name. */
  readonly key: string;
  readonly cert: string;
}

export type InsideMessage =
  | { readonly type: 'hello' }
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'settled'; readonly id: number }
  | { readonly type: 'question'; readonly name: string; readonly recordType: number }
  | { readonly type: 'request'; readonly request: StandInRequest };
