// A stand-in for Linear's GraphQL API (https://api.linear.app/graphql) on loopback, for tests: every
// request is parsed, validated and executed against Linear's published schema (the part of its
// SDK's schema.graphql vendored beside this file), so a query Linear would refuse — a field it does
// not have, an argument of the wrong type, a missing variable — is refused here too, as Linear
// answers it (HTTP 400, GraphQL errors). Only commentCreate is served; it records each comment.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSchema, execute, GraphQLError, parse, validate, type DocumentNode } from 'graphql';

export const linearSchema = buildSchema(readFileSync(new URL('./vendored/linear-sdk-schema-subset.graphql', import.meta.url), 'utf8'));

export interface LinearComment {
  readonly id: string;
  readonly issueId: string;
  readonly body: string;
}

export interface LinearApiStandIn {
  /** The GraphQL endpoint: the value of triggers.linear.apiUrl. */
  readonly url: string;
  readonly comments: LinearComment[];
  /** The requests refused, and Linear's errors for them. */
  readonly refused: { readonly status: number; readonly messages: readonly string[] }[];
  close(): Promise<void>;
}

/** Starts the stand-in: `apiKey` is the only credential it takes (sent as Linear's API keys are, without a scheme); `issues` are the issue ids it knows. */
export async function startLinearApi(options: { readonly apiKey: string; readonly issues: readonly string[] }): Promise<LinearApiStandIn> {
  const comments: LinearComment[] = [];
  const refused: { status: number; messages: string[] }[] = [];
  const rootValue = {
    commentCreate: ({ input }: { input: { issueId?: string; body?: string } }) => {
      if (input.issueId === undefined || !options.issues.includes(input.issueId))
        throw new GraphQLError('Entity not found: Issue', { extensions: { code: 'INVALID_INPUT' } });
      const comment = { id: randomUUID(), issueId: input.issueId, body: input.body ?? '' };
      comments.push(comment);
      const now = new Date().toISOString();
      return {
        success: true,
        lastSyncId: comments.length,
        comment: { ...comment, url: `https://linear.app/cairn/issue/${input.issueId}#comment-${comment.id.slice(0, 8)}`, createdAt: now, updatedAt: now },
      };
    },
  };
  const server = createServer((request, response) => {
    void answer(request).then(({ status, body }) => {
      if (status !== 200) refused.push({ status, messages: (body.errors as { message: string }[] | undefined)?.map((error) => error.message) ?? [] });
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
    });
  });

  async function answer(request: IncomingMessage): Promise<{ status: number; body: Record<string, unknown> }> {
    const error = (status: number, message: string, code: string) => ({ status, body: { errors: [{ message, extensions: { code } }] } });
    if (request.method !== 'POST' || request.url !== '/graphql') return error(404, 'Not found: POST /graphql only', 'NOT_FOUND');
    if (request.headers.authorization !== options.apiKey) return error(400, 'Authentication required, not authenticated', 'AUTHENTICATION_ERROR');
    if (!request.headers['content-type']?.startsWith('application/json')) return error(400, 'Expected application/json', 'BAD_REQUEST');
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    let body: { query?: unknown; variables?: unknown; operationName?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
    } catch {
      return error(400, 'Body is not JSON', 'BAD_REQUEST');
    }
    if (typeof body.query !== 'string') return error(400, 'Must provide query string.', 'BAD_REQUEST');
    let document: DocumentNode;
    try {
      document = parse(body.query);
    } catch (syntax) {
      return error(400, (syntax as Error).message, 'GRAPHQL_PARSE_FAILED');
    }
    const invalid = validate(linearSchema, document);
    if (invalid.length > 0)
      return { status: 400, body: { errors: invalid.map((problem) => ({ message: problem.message, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })) } };
    const result = await execute({
      schema: linearSchema,
      document,
      rootValue,
      variableValues: (body.variables ?? {}) as Record<string, unknown>,
      ...(typeof body.operationName === 'string' ? { operationName: body.operationName } : {}),
    });
    // Variables that do not coerce to their types leave no data: Linear answers those 400 too.
    return { status: result.data == null ? 400 : 200, body: JSON.parse(JSON.stringify(result)) as Record<string, unknown> };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    comments,
    refused,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
