import { createReadStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { builtin } from './builtin-module.ts';

/**
 * POSTs a file as the request body, read as the connection takes it, and resolves the answer's
 * status and text. Piped into a request of Node's own HTTP client, which waits for the socket
 * (fetch, which the client used before, read a stream body ahead of the connection without bound:
 * a 300 MB snapshot cost the client 400 MB of memory). A failure to connect or send rejects with the
 * system error (the caller says which server it could not reach).
 */
export async function postFile(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  // Taken here, not imported at the top: node:https loads TLS, and importing node:http as a module
  // loads fetch's HTTP stack (see `builtin`), a cost to every `cairn` start otherwise.
  const { request: send } = url.startsWith('https:') ? await builtin('node:https') : await builtin('node:http');
  const request = send(url, { method: 'POST', headers });
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
  });
  // Awaited below, through the race; a rejection after the race is settled is not unhandled.
  answered.catch(() => undefined);
  // A server may answer before the body is sent (a refusal by its length): the answer counts then.
  const sent = pipeline(createReadStream(path), request).then(
    () => undefined,
    (error: unknown) => error,
  );
  const response = await Promise.race([answered, sent.then((error) => (error === undefined ? answered : Promise.reject(error)))]);
  let text = '';
  response.setEncoding('utf8');
  for await (const chunk of response) text += chunk as string;
  return { status: response.statusCode ?? 0, text };
}
