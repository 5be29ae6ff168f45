import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A Chat Completions request as the server received it. */
export interface ReceivedChatRequest {
  readonly headers: IncomingHttpHeaders;
  readonly body: {
    readonly model: string;
    readonly messages: readonly {
      readonly role: string;
      readonly content?: string | null;
      readonly tool_call_id?: string;
      readonly tool_calls?: readonly { id: string; function: { name: string; arguments: string } }[];
    }[];
    readonly tools: readonly { readonly function: { readonly name: string } }[];
  };
}

/** What the script answers: a status and JSON body, or no answer at all (the connection stays open). */
export type ScriptedAnswer = { readonly status?: number; readonly body: unknown; readonly headers?: Record<string, string> } | 'no-answer';

export interface ScriptedChatServer {
  /** The base URL to configure (`http://127.0.0.1:<port>/v1`). */
  readonly baseUrl: string;
  readonly requests: ReceivedChatRequest[];
  /** Requests whose connection the client closed before an answer was sent. */
  readonly abandoned: () => number;
  close(): Promise<void>;
}

/**
 * A loopback server speaking the Chat Completions protocol, answering `POST /v1/chat/completions`
 * with what `script` returns for each request. Scripts read the conversation (the prompt, the tool
 * results so far), as a model would, so one server can serve several runs.
 */
export async function startScriptedChatServer(script: (request: ReceivedChatRequest, index: number) => ScriptedAnswer): Promise<ScriptedChatServer> {
  const requests: ReceivedChatRequest[] = [];
  let abandoned = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/chat/completions') {
        response.writeHead(404).end();
        return;
      }
      const received: ReceivedChatRequest = { headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
      requests.push(received);
      const answer = script(received, requests.length - 1);
      if (answer === 'no-answer') {
        response.on('close', () => abandoned++);
        return;
      }
      response.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    abandoned: () => abandoned,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A completion asking for tool calls, each `[name, arguments]`. */
export function toolCalls(calls: readonly (readonly [string, unknown])[], content: string | null = null): ScriptedAnswer {
  return {
    body: {
      id: 'chatcmpl-test',
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content,
            tool_calls: calls.map(([name, args], index) => ({
              id: `call_${index}_${name}`,
              type: 'function',
              function: { name, arguments: JSON.stringify(args) },
            })),
          },
        },
      ],
    },
  };
}

/** A completion answering with text and no tool call. */
export function answer(content: string | null): ScriptedAnswer {
  return { body: { id: 'chatcmpl-test', object: 'chat.completion', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }] } };
}

/** The tool results of a conversation so far, in order. */
export function toolResults(request: ReceivedChatRequest): string[] {
  return request.body.messages.filter((message) => message.role === 'tool').map((message) => message.content ?? '');
}

/** The user prompt of a conversation. */
export function promptOf(request: ReceivedChatRequest): string {
  return request.body.messages.find((message) => message.role === 'user')?.content ?? '';
}
