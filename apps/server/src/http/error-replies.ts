import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { CairnError, errorCatalogue, isCairnError } from '@cairn/protocol';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

/** The body of every error the API answers: the CairnError's code, message and where. */
export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  /** What to do about it (from the catalogue). */
  readonly action: string;
  readonly path?: string;
  readonly issues?: readonly { readonly path: string; readonly message: string }[];
}

/**
 * Turns anything a route throws into `{ code, message, path? }` with the catalogue's status:
 * CairnErrors as they are, request-schema failures as CAIRN_PAYLOAD_INVALID naming the field,
 * Fastify's own refusals (a body too large, a media type it does not take) by their meaning, and
 * anything else as CAIRN_INTERNAL, whose details stay in the log, never in the answer.
 */
export function replyWithError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const cairn = toCairnError(error, request);
  if (cairn.code === 'CAIRN_INTERNAL') request.log.error({ error: error.stack ?? String(error) }, 'unexpected error in a route');
  const body: ErrorBody = {
    code: cairn.code,
    message: cairn.message,
    action: cairn.action,
    ...(cairn.path === undefined ? {} : { path: cairn.path }),
    ...(cairn.issues.length > 0 ? { issues: cairn.issues.map(({ path, message }) => ({ path, message })) } : {}),
  };
  void reply.status(errorCatalogue[cairn.code].status).type('application/json').send(body);
}

function toCairnError(error: FastifyError | Error, request: FastifyRequest): CairnError {
  if (isCairnError(error)) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    // Fastify calls the query string `querystring`; the error names it `query.<name>`.
    const context = (error as FastifyError).validationContext === 'querystring' ? 'query' : ((error as FastifyError).validationContext ?? 'request');
    const issues = error.validation.map((issue) => ({
      code: 'CAIRN_PAYLOAD_INVALID' as const,
      path: `${context}${issue.instancePath === '' ? '' : issue.instancePath.replaceAll('/', '.')}`,
      message: issue.message ?? 'is not valid',
    }));
    return new CairnError('CAIRN_PAYLOAD_INVALID', `The request is not valid: ${issues.map((issue) => `${issue.path} ${issue.message}`).join('; ')}.`, {
      path: issues[0]?.path ?? 'request',
      issues,
    });
  }
  const fastify = error as FastifyError;
  if (fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return bodyTooLarge(request);
  if (fastify.code === 'FST_ERR_MAX_PARAM_LENGTH' || fastify.code === 'FST_ERR_BAD_URL') {
    return new CairnError('CAIRN_PAYLOAD_INVALID', `The request URL is not valid (${fastify.message}); see /openapi.json for each path parameter's form.`, {
      path: 'url',
    });
  }
  if (fastify.statusCode !== undefined && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    return new CairnError('CAIRN_PAYLOAD_INVALID', `The request was refused: ${fastify.message}. Send JSON, or YAML as application/yaml.`, { path: 'body' });
  }
  // Unexpected: the answer says so without internals (which go to the log).
  return new CairnError('CAIRN_INTERNAL', 'The server failed to answer this request; the details are in its log.');
}

/**
 * A body over its route's limit, said in the terms of what the route declares its body is
 * (`config.body` beside its `bodyLimit`): a run spec, an upload (a workspace), or any other body.
 */
function bodyTooLarge(request: FastifyRequest): CairnError {
  const limit = request.routeOptions.bodyLimit;
  const sent = request.headers['content-length'];
  const size = sent === undefined ? 'larger than that' : `${sent} bytes`;
  const route = request.routeOptions.url;
  const body = (request.routeOptions.config as { body?: 'run spec' | 'upload' } | undefined)?.body;
  if (body === 'upload')
    return new CairnError(
      'CAIRN_UPLOAD_TOO_LARGE',
      `The upload (a workspace snapshot, or another blob) is ${size}; this server takes up to ${limit} bytes (${mebibytes(limit)} MiB, server.uploadLimitMiB). Nothing was stored.`,
      { path: 'body', details: { limitBytes: limit, ...(sent === undefined ? {} : { bytes: Number(sent) }) } },
    );
  if (body === 'run spec')
    return new CairnError(
      'CAIRN_RUN_SPEC_TOO_LARGE',
      `The run spec is ${size}; this server takes up to ${limit} bytes (${mebibytes(limit)} MiB) of it. Split the run.`,
      {
        path: 'body',
      },
    );
  return new CairnError('CAIRN_PAYLOAD_INVALID', `The request body is ${size}; ${request.method} ${route ?? request.url} takes up to ${limit} bytes.`, {
    path: 'body',
    action: 'Send the body this operation takes (see /openapi.json): it is far smaller.',
  });
}

function mebibytes(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1);
}
