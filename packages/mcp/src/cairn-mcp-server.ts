import type { CairnClient } from '@cairn/client';
import type { RunSpecV1 } from '@cairn/core';
import { assertRunSpec, CairnError, isCairnError, parseRunSpec, runSpecJsonSchema } from '@cairn/protocol';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { stringify } from 'yaml';
import { z } from 'zod';
import { boundedRunWait } from './bounded-run-wait.ts';
import { runSpecExample } from './run-spec-example.ts';
import { workspaceSnapshotDigest, type WorkspaceInput } from './workspace-snapshot-digest.ts';

/** The tools, and nothing else: the repository's tool-allowlist.json must list exactly these. */
export const mcpToolNames = ['submit_run', 'list_templates', 'submit_template_run', 'get_run_status', 'wait_for_run', 'get_patch'] as const;

/** The resources a model may read before it writes a spec. */
export const mcpResourceUris = { runSpecSchema: 'cairn://schema/run-spec', runSpecExample: 'cairn://examples/run-spec' } as const;

/** How `cairn mcp` is set up by its operator (never by the AI client). */
export interface McpServerOptions {
  readonly version?: string;
  /**
   * The folder `submit_run`'s `workspace.directory` must lie in (relative names are taken from
   * it); default: the current folder, unless that is the filesystem's root (then no folder is
   * snapshotted). Nothing outside it is ever snapshotted.
   */
  readonly workspaceRoot?: string;
  /**
   * The longest one `wait_for_run` call waits, in seconds (default 45): under the 60 s request
   * timeout of the MCP SDK's default client, so a long run is waited for over several calls.
   */
  readonly maxWaitSeconds?: number;
}

const defaultMaxWaitSeconds = 45;

/** What the SDK hands a tool besides its input: the request's signal, `_meta` and a way to notify. */
type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const runId = z.string().min(1).max(200).describe('The run id submit_run returned (r-...).');
const itemId = z.string().min(1).max(128).describe('An item id from the run spec.');
// What the model reads: the run spec's own JSON Schema. The object is checked by the Cairn
// validator (CAIRN_RUN_SPEC_INVALID naming each JSON path), not by zod here, so a model gets the
// same precise messages as a person using the CLI.
const { $schema: _dialect, $id: _id, ...runSpecObjectSchema } = runSpecJsonSchema();
const spec = z
  .union([z.string().min(1).max(1_000_000).describe('The run spec as YAML or JSON text.'), z.looseObject({}).meta(runSpecObjectSchema)])
  .describe(`A run spec (cairn.run/v1): a JSON object of this schema, or the same as YAML or JSON text. Also the resource ${mcpResourceUris.runSpecSchema}.`);
const workspace = z
  .union([
    z.strictObject({
      directory: z
        .string()
        .min(1)
        .max(4_096)
        .describe(
          'A folder on the machine running this MCP server, inside its workspace root (relative names are taken from there): snapshotted now (in a git work tree: tracked and untracked files, minus ignored ones) and uploaded.',
        ),
    }),
    z.strictObject({
      digest: z
        .string()
        .regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256: followed by 64 lowercase hex digits')
        .describe('The digest of a workspace snapshot already stored on the server (as `cairn submit --workspace` prints it).'),
    }),
  ])
  .describe(
    "The files every item starts from (its current folder). Replaces any workspace the spec names; without it, the spec's workspace.path is taken as the directory. Without either, items start in an empty folder.",
  );

// Loose objects: a client validating structuredContent against these accepts fields added later.
const submitOutput = z.looseObject({
  runId: z.string(),
  created: z.boolean().describe('False when the same idempotencyKey and spec had already made this run.'),
  specDigest: z.string(),
  workspace: z.looseObject({ digest: z.string(), files: z.int().optional() }).optional().describe('The snapshot the items start from, when one was given.'),
});
const statusOutput = z.looseObject({
  runId: z.string(),
  name: z.string(),
  state: z.string().describe('queued, running, succeeded, failed or cancelled.'),
  items: z.array(z.looseObject({ itemId: z.string(), state: z.string() })),
  spend: z
    .looseObject({ total: z.looseObject({ costUsd: z.number(), calls: z.int() }), items: z.record(z.string(), z.looseObject({ costUsd: z.number() })) })
    .optional()
    .describe("What the run's model calls spent, in total and by item (US dollars by the price table, tokens by kind), when it made any through the gateway."),
});
const waitOutput = z.looseObject({
  runId: z.string(),
  done: z.boolean().describe('True when the run has ended; false when this call stopped waiting first: call wait_for_run again.'),
  state: z.string(),
  itemsTotal: z.int(),
  itemsFinished: z.int(),
  itemsFailed: z.int(),
  waitedSeconds: z.number(),
  awaitingApproval: z.array(z.string()).optional().describe('Items waiting for a person to approve them.'),
  failedItems: z
    .array(z.looseObject({ itemId: z.string(), failure: z.looseObject({ code: z.string(), message: z.string() }).nullable() }))
    .optional()
    .describe('Once the run has ended with failed items: each, with why it failed.'),
  next: z.string().optional().describe('What to do next, when done is false.'),
});
const templatesOutput = z.looseObject({
  templates: z.array(
    z.looseObject({
      name: z.string(),
      description: z.string().optional(),
      parameters: z.array(z.looseObject({ name: z.string(), required: z.boolean(), default: z.string().optional(), description: z.string().optional() })),
    }),
  ),
});
const templateSubmitOutput = z.looseObject({
  runId: z.string(),
  created: z.boolean().describe('False when the same idempotencyKey and filled spec had already made this run.'),
  specDigest: z.string(),
});
const patchOutput = z.looseObject({ runId: z.string(), itemId: z.string(), patch: z.string().describe('A git diff (apply with git apply).') });

const exampleYaml = stringify(runSpecExample, { lineWidth: 0 });

/**
 * An MCP server for an AI client: it may submit runs (over a folder it names inside the
 * operator's workspace root, or a stored snapshot) or runs from the server's templates, read
 * their status, wait for them and read the patches they produced — through a Cairn client whose
 * token should hold only `runs:submit` and `runs:read`: the server checks each call against the
 * token's scopes exactly as for the HTTP route it is (GET /v1/templates, POST /v1/templates/{name}/runs). Nothing privileged is a tool (audit, tokens, schedules, secrets, approvals,
 * cancel, keys), so no prompt can reach it. Every tool declares its output schema and answers
 * `structuredContent` (and the same as JSON text); errors come back as tool errors with the
 * CairnError's code.
 */
export function buildMcpServer(client: CairnClient, options: McpServerOptions = {}): McpServer {
  const maxWaitSeconds = options.maxWaitSeconds ?? defaultMaxWaitSeconds;
  if (!(maxWaitSeconds > 0 && maxWaitSeconds <= 3_600)) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `[cairn] [mcp] invalid setting "maxWaitSeconds": must be more than 0 and at most 3600 seconds, got ${maxWaitSeconds}.`,
      { path: 'maxWaitSeconds' },
    );
  }
  const workspaceRoot = { path: options.workspaceRoot ?? process.cwd(), chosen: options.workspaceRoot !== undefined };
  const server = new McpServer({ name: 'cairn', version: options.version ?? '0.1.0' });
  const guarded =
    <Input, Output extends Record<string, unknown>>(
      work: (input: Input, extra: ToolExtra) => Promise<Output>,
      text: (output: Output) => string = (output) => JSON.stringify(output, null, 2),
    ) =>
    async (input: Input, extra: ToolExtra) => {
      try {
        const output = await work(input, extra);
        return { content: [{ type: 'text' as const, text: text(output) }], structuredContent: output };
      } catch (error) {
        return {
          content: [{ type: 'text' as const, text: isCairnError(error) ? `${error.code}: ${error.message}` : `error: ${(error as Error).message}` }],
          isError: true,
        };
      }
    };

  server.registerResource(
    'run-spec-schema',
    mcpResourceUris.runSpecSchema,
    {
      title: 'Run spec JSON Schema',
      description: 'The JSON Schema (draft 2020-12) of a Cairn run spec, cairn.run/v1: what submit_run accepts as spec.',
      mimeType: 'application/schema+json',
    },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'application/schema+json', text: JSON.stringify(runSpecJsonSchema(), null, 2) }] }),
  );
  server.registerResource(
    'run-spec-example',
    mcpResourceUris.runSpecExample,
    {
      title: 'Run spec example',
      description: 'A worked run spec: two commands over the workspace, the second applying the patch of the first.',
      mimeType: 'application/json',
    },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(runSpecExample, null, 2) }] }),
  );

  server.registerTool(
    'submit_run',
    {
      title: 'Submit a Cairn run',
      description: [
        "Submit a Cairn run: a DAG of work items, each run in a sandbox over a copy of the workspace; an item's changes to its files become its patch (read it with get_patch).",
        'spec is the run spec (cairn.run/v1) as a JSON object or as YAML/JSON text; its JSON Schema is in the input schema and in the resource cairn://schema/run-spec.',
        'workspace gives the files the items start from: { directory } (a folder this server snapshots, inside its workspace root) or { digest } (a stored snapshot); without it items start in an empty folder.',
        'Returns the run id; follow it with wait_for_run. The same idempotencyKey with the same spec returns the same run instead of a new one.',
        `Example spec (also the resource ${mcpResourceUris.runSpecExample}):`,
        exampleYaml,
      ].join('\n'),
      inputSchema: {
        spec,
        workspace: workspace.optional(),
        idempotencyKey: z.string().min(1).max(200).optional().describe('Makes a retried submit safe: the same key and spec return the first run.'),
      },
      outputSchema: submitOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    guarded(async (input: { spec: string | Record<string, unknown>; workspace?: WorkspaceInput | undefined; idempotencyKey?: string | undefined }) => {
      const submitOptions = input.idempotencyKey ? { idempotencyKey: input.idempotencyKey } : {};
      const document = typeof input.spec === 'string' ? parseRunSpec(input.spec) : input.spec;
      // A spec's own `workspace.path` is a folder for the submitting client to snapshot (the server
      // never reads it): taken as workspace.directory, under the same root, rather than ignored.
      const named = (document as { workspace?: { path?: unknown; snapshot?: unknown } } | null)?.workspace;
      const given = input.workspace ?? (typeof named?.path === 'string' && named.snapshot === undefined ? { directory: named.path } : undefined);
      if (!given) {
        return { ...(await client.submit(input.spec as RunSpecV1 | string, submitOptions)) };
      }
      // Checked before the snapshot is uploaded (as `cairn submit --workspace` does); the server checks it again.
      const checked = assertRunSpec(document).spec;
      const snapshot = await workspaceSnapshotDigest(client, given, workspaceRoot);
      const submitted = await client.submit({ ...checked, workspace: { snapshot: snapshot.digest } }, submitOptions);
      return { ...submitted, workspace: snapshot };
    }),
  );
  server.registerTool(
    'list_templates',
    {
      title: 'Run templates',
      description:
        "The run templates of the Cairn server's config: each a stored run spec with string parameters (required unless it has a default). Start one with submit_template_run.",
      inputSchema: {},
      outputSchema: templatesOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    guarded(async () => ({ templates: await client.templates() })),
  );
  server.registerTool(
    'submit_template_run',
    {
      title: 'Submit a run from a template',
      description: [
        'Submit a Cairn run from a template of the server (list_templates names them and their parameters).',
        "Each parameter is a string, put into the spec as a string value: it never changes the spec's structure. A value that breaks the spec is refused naming the template and parameter.",
        'Returns the run id; follow it with wait_for_run. The same idempotencyKey with the same filled spec returns the same run instead of a new one.',
      ].join('\n'),
      inputSchema: {
        template: z.string().min(1).max(64).describe('The template name, as list_templates gives it.'),
        parameters: z
          .record(z.string().min(1).max(200), z.string().max(65_536))
          .optional()
          .describe('The template parameters by name, each a string; a parameter with a default may be left out.'),
        idempotencyKey: z.string().min(1).max(200).optional().describe('Makes a retried submit safe: the same key and filled spec return the first run.'),
      },
      outputSchema: templateSubmitOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    guarded(async (input: { template: string; parameters?: Record<string, string> | undefined; idempotencyKey?: string | undefined }) => ({
      ...(await client.submitTemplate(input.template, input.parameters ?? {}, input.idempotencyKey ? { idempotencyKey: input.idempotencyKey } : {})),
    })),
  );
  server.registerTool(
    'get_run_status',
    {
      title: 'Run status',
      description:
        "A run's state and its items' states; a failed item says why (failure: code, message, exitCode, signal, rule, stderrTail); what its agents' model calls spent (spend), when they made any.",
      inputSchema: { runId },
      outputSchema: statusOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(async ({ runId }: { runId: string }) => {
      const [run, items] = await Promise.all([client.run(runId), client.items(runId)]);
      return {
        runId: run.runId,
        name: run.name,
        state: run.state,
        items: items.map((item) => ({ itemId: item.itemId, state: item.state, ...(item.failure ? { failure: item.failure } : {}) })),
        ...(run.spend ? { spend: run.spend } : {}),
      };
    }),
  );
  server.registerTool(
    'wait_for_run',
    {
      title: 'Wait for a run',
      description: `Wait for a run to end, at most ${maxWaitSeconds} s per call (or timeoutSeconds, when smaller), then return its state, and why each failed item failed. done: false means the run is still going: call wait_for_run again with the same runId. Sends progress notifications (items ended of total) when the request carries a progressToken.`,
      inputSchema: {
        runId,
        timeoutSeconds: z
          .number()
          .int()
          .min(1)
          .max(3_600)
          .optional()
          .describe(`The longest this call waits; values above ${maxWaitSeconds} wait ${maxWaitSeconds} s.`),
      },
      outputSchema: waitOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    guarded(async ({ runId, timeoutSeconds }: { runId: string; timeoutSeconds?: number | undefined }, extra) => {
      const progressToken = extra._meta?.progressToken;
      let lastNotification: Promise<void> = Promise.resolve();
      const onProgress =
        progressToken === undefined
          ? undefined
          : (progress: { progress: number; total: number; message: string }) => {
              // A lost notification is not worth failing the wait over: the answer says where the run is.
              lastNotification = extra.sendNotification({ method: 'notifications/progress', params: { progressToken, ...progress } }).catch(() => undefined);
            };
      const answer = await boundedRunWait(client, runId, {
        seconds: Math.min(timeoutSeconds ?? maxWaitSeconds, maxWaitSeconds),
        signal: extra.signal,
        ...(onProgress ? { onProgress } : {}),
      });
      // The last progress goes out before the answer: a client stops listening for a request's
      // progress once it is answered, and one that overtook it left the client's count short of the end.
      await lastNotification;
      if (!answer.done || answer.itemsFailed === 0) return { ...answer };
      // What the agent needs next is why: each failed item with its failure, in one answer.
      const failedItems = (await client.items(runId))
        .filter((item) => item.state === 'failed')
        .map((item) => ({ itemId: item.itemId, failure: item.failure ?? null }));
      return { ...answer, failedItems };
    }),
  );
  server.registerTool(
    'get_patch',
    {
      title: 'Patch of an item',
      description: 'The patch (git diff) a succeeded item made to its workspace; an error when it changed nothing.',
      inputSchema: { runId, itemId },
      outputSchema: patchOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    guarded(
      async ({ runId, itemId }: { runId: string; itemId: string }) => ({ runId, itemId, patch: await client.patch(runId, itemId) }),
      (output) => output.patch,
    ),
  );
  return server;
}
