import { CairnError } from '@cairn/protocol';
import type { RunnerExecutor, RunnerSummary } from '@cairn/runner';
import { z } from 'zod';
import type { HttpApp } from '../../http/http-app.ts';
import { runnerViewSchema } from '../../http/response-schemas.ts';
import type { TokenStore } from '../access/token-store.ts';

/** A runner as `GET /v1/runners` lists it: the book's summary and the name of the token it polls with. */
export type RunnerView = z.output<typeof runnerViewSchema>;

const runnerParams = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(200)
    .meta({ description: "The runner's name (token:<id>), its token's id, or its token's name when one runner polls with a token of that name" }),
});

/**
 * What an operator reads and does to runners (ADR 0050, step 2), with `admin`: the list, and a
 * drain or a resume. Answered on every server, so that the API is the same whatever the config: a
 * server without `runners.enabled` answers 404 saying how to enable them.
 */
export function registerRunnerAdminRoutes(app: HttpApp, runners: RunnerExecutor | undefined, tokens: TokenStore): void {
  app.get(
    '/v1/runners',
    {
      config: { action: 'runners.read' },
      schema: {
        operationId: 'listRunners',
        summary: "The runners that polled this server since it started: each one's token name, labels, free slots, attempts held, last poll and state",
        response: { 200: z.array(runnerViewSchema) },
      },
    },
    async () => viewsOf(enabled(runners).runners(), tokens),
  );
  for (const [verb, draining] of [
    ['drain', true],
    ['resume', false],
  ] as const) {
    app.post(
      `/v1/runners/:name/${verb}`,
      {
        config: { action: 'runners.manage' },
        schema: {
          operationId: draining ? 'drainRunner' : 'resumeRunner',
          summary: draining
            ? 'Drain a runner: it is given no new attempts; those it holds run to their end. Until the server restarts or the runner is resumed'
            : 'Resume a drained runner: it is given attempts again',
          params: runnerParams,
          response: { 200: runnerViewSchema },
        },
      },
      async (request) => {
        const book = enabled(runners);
        const name = await runnerNamed(request.params.name, book.runners(), tokens);
        const summary = draining ? book.drain(name) : book.undrain(name);
        // Named a moment ago; a book forgets no runner.
        const [view] = await viewsOf([summary!], tokens);
        return view!;
      },
    );
  }
}

function enabled(runners: RunnerExecutor | undefined): RunnerExecutor {
  if (runners !== undefined) return runners;
  throw new CairnError(
    'CAIRN_NOT_FOUND',
    'Runners are not enabled on this server: set runners: { enabled: true } in its config and restart it (docs/operations/runners.md).',
    { path: 'runners.enabled' },
  );
}

/** Each summary with the name of the token its runner polls with (`token:<id>`), null for another kind of actor or a token no longer listed. */
async function viewsOf(summaries: readonly RunnerSummary[], tokens: TokenStore): Promise<RunnerView[]> {
  const names = new Map((await tokens.list()).map((record) => [`token:${record.id}`, record]));
  return summaries.map((summary) => {
    const record = names.get(summary.name);
    return {
      ...summary,
      labels: [...summary.labels],
      tokenName: record?.name ?? null,
      tokenRevoked: record?.revokedAt !== undefined,
    };
  });
}

/**
 * The runner `named` means: a runner's own name (`token:<id>`), a token id, or the name of the
 * token of exactly one runner. CAIRN_NOT_FOUND naming the runners there are, or CAIRN_PAYLOAD_INVALID
 * when a token name is shared by several runners' tokens.
 */
async function runnerNamed(named: string, known: readonly RunnerSummary[], tokens: TokenStore): Promise<string> {
  const names = new Set(known.map((runner) => runner.name));
  if (names.has(named)) return named;
  if (names.has(`token:${named}`)) return `token:${named}`;
  const views = await viewsOf(known, tokens);
  const byTokenName = views.filter((view) => view.tokenName === named);
  if (byTokenName.length === 1) return byTokenName[0]!.name;
  if (byTokenName.length > 1) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Runners of ${byTokenName.length} tokens named "${named}" polled this server (${byTokenName.map((view) => view.name).join(', ')}): name one of them by its runner name.`,
      { path: 'name' },
    );
  }
  const listed = views.map((view) => (view.tokenName === null ? view.name : `${view.tokenName} (${view.name})`));
  throw new CairnError(
    'CAIRN_NOT_FOUND',
    `No runner named "${named}" polled this server since it started; ${listed.length === 0 ? 'none did' : `those that did: ${listed.join(', ')}`} (cairn runners).`,
    { path: 'name' },
  );
}
