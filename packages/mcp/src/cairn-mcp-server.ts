import type { CairnClient } from '@cairn/client';
import { isCairnError } from '@cairn/protocol';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

/** The tools, and nothing else: the repository's tool-allowlist.json must list exactly these. */
export const mcpToolNames = ['submit_run', 'get_run_status', 'wait_for_run', 'get_patch'] as const;

const text = (value: unknown) => ({ content: [{ type: 'text' as const, text: typeof value === 'string' ? value : JSON.stringify(value, null, 2) }] });

/**
 * An MCP server for an AI client: it may submit runs, read their status, wait for them and read
 * the patches they produced — through a Cairn client whose token should hold only `runs:submit`
 * and `runs:read`. Nothing privileged is a tool (audit, tokens, schedules, secrets, approvals,
 * cancel), so no prompt can reach it. Errors come back as tool errors with the CairnError's code.
 */
export function buildMcpServer(client: CairnClient, options: { readonly version?: string } = {}): McpServer {
  const server = new McpServer({ name: 'cairn', version: options.version ?? '0.1.0' });
  const guarded = <Input>(work: (input: Input) => Promise<unknown>) => async (input: Input) => {
    try {
      return text(await work(input));
    } catch (error) {
      return { ...text(isCairnError(error) ? `${error.code}: ${error.message}` : `error: ${(error as Error).message}`), isError: true };
    }
  };
  server.registerTool(
    'submit_run',
    { description: 'Submit a Cairn run spec (YAML or JSON text, cairn.run/v1). Returns the run id. The same idempotencyKey with the same spec returns the same run.', inputSchema: { spec: z.string().min(1).max(1_000_000), idempotencyKey: z.string().min(1).max(200).optional() } },
    guarded(({ spec, idempotencyKey }: { spec: string; idempotencyKey?: string | undefined }) => client.submit(spec, idempotencyKey ? { idempotencyKey } : {})),
  );
  server.registerTool(
    'get_run_status',
    { description: "A run's state and its items' states; a failed item says why (failure: code, message, exitCode, signal, rule, stderrTail).", inputSchema: { runId: z.string().min(1).max(200) } },
    guarded(async ({ runId }: { runId: string }) => {
      const [run, items] = await Promise.all([client.run(runId), client.items(runId)]);
      return { runId: run.runId, name: run.name, state: run.state, items: items.map((item) => ({ itemId: item.itemId, state: item.state, ...(item.failure ? { failure: item.failure } : {}) })) };
    }),
  );
  server.registerTool(
    'wait_for_run',
    { description: 'Wait until a run has ended (at most timeoutSeconds, 600 by default), then return its state, and why each failed item failed.', inputSchema: { runId: z.string().min(1).max(200), timeoutSeconds: z.number().int().min(1).max(3_600).optional() } },
    guarded(async ({ runId, timeoutSeconds }: { runId: string; timeoutSeconds?: number | undefined }) => {
      const run = await client.waitForRun(runId, { signal: AbortSignal.timeout((timeoutSeconds ?? 600) * 1000) });
      const ended = { runId: run.runId, state: run.state, itemsFinished: run.itemsFinished, itemsFailed: run.itemsFailed };
      if (run.itemsFailed === 0) return ended;
      // What the agent needs next is why: each failed item with its failure, in one answer.
      const failedItems = (await client.items(runId)).filter((item) => item.state === 'failed').map((item) => ({ itemId: item.itemId, failure: item.failure ?? null }));
      return { ...ended, failedItems };
    }),
  );
  server.registerTool(
    'get_patch',
    { description: "The patch (git diff) a succeeded item produced; an error when it changed nothing.", inputSchema: { runId: z.string().min(1).max(200), itemId: z.string().min(1).max(128) } },
    guarded(({ runId, itemId }: { runId: string; itemId: string }) => client.patch(runId, itemId)),
  );
  return server;
}
