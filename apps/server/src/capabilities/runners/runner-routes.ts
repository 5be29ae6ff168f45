import { runnerExitsAnswerSchema, runnerExitsRequestSchema, runnerPollAnswerSchema, runnerPollRequestSchema, type RunnerExitsAnswer } from '@cairn/protocol';
import { CairnError } from '@cairn/protocol';
import { VERSION, type RunnerExecutor } from '@cairn/runner';
import type { HttpApp } from '../../http/http-app.ts';

/**
 * What a runner calls (ADR 0050), with a token whose only scope is `runners:run`: its poll (its
 * heartbeat, how it takes leases, and how it reports ended attempts while it polls) and its report
 * of ended attempts (when it stops, or drains). The runner's name is its
 * token's: one token per runner, revoked to cut it off.
 */
export function registerRunnerRoutes(
  app: HttpApp,
  runners: RunnerExecutor,
  onLate: (late: { runnerName: string; executionId: string; what: string; reason: string }) => Promise<void>,
): void {
  app.post(
    '/v1/runner/poll',
    {
      config: { action: 'runner.run' },
      schema: {
        operationId: 'pollAsRunner',
        summary: "A runner's long poll: its heartbeat, and the attempts leased to it (answered at once with work, or empty after up to 25 s)",
        body: runnerPollRequestSchema,
        response: { 200: runnerPollAnswerSchema },
      },
    },
    async (request) => {
      refuseOtherVersions(request.body.version);
      // A runner that goes away mid-poll is answered nothing: its leases wait for its next poll.
      const stop = new AbortController();
      request.raw.once('close', () => stop.abort());
      const name = request.actor!.id;
      const answer = await runners.poll({ name }, request.body, stop.signal);
      if (answer.exits !== undefined) await auditLateExits(name, answer.exits, onLate);
      return mutable(answer);
    },
  );
  app.post(
    '/v1/runner/exits',
    {
      config: { action: 'runner.run' },
      schema: {
        operationId: 'reportRunnerExits',
        summary: "A runner's report of ended attempts: each accepted, or refused with why (not its lease, or its lease lapsed)",
        body: runnerExitsRequestSchema,
        response: { 200: runnerExitsAnswerSchema },
      },
    },
    async (request) => {
      const name = request.actor!.id;
      const answer = runners.reportExits({ name }, request.body.exits);
      await auditLateExits(name, answer, onLate);
      return mutable(answer);
    },
  );
}

/** An exit for a lease that lapsed is a late result: the attempt was recorded lost and may run elsewhere. */
async function auditLateExits(runnerName: string, answer: RunnerExitsAnswer, onLate: Parameters<typeof registerRunnerRoutes>[2]): Promise<void> {
  for (const refused of answer.refused)
    if (refused.reason.startsWith('lease lapsed')) await onLate({ runnerName, executionId: refused.executionId, what: 'exit', reason: refused.reason });
}

/**
 * A runner of another minor version (or major) is given nothing: the lease it would read and the
 * status it would report may mean something else to it. Patch versions differ freely.
 */
function refuseOtherVersions(version: string): void {
  const minor = (text: string) => /^(\d+)\.(\d+)\./.exec(text)?.slice(1, 3).join('.');
  if (minor(version) !== undefined && minor(version) === minor(VERSION)) return;
  throw new CairnError(
    'CAIRN_RUNNER_VERSION',
    `This server runs runner protocol ${VERSION}; the runner polling is ${JSON.stringify(version)}, of another minor version. Install @cairn/runner ${VERSION} (cairn ${VERSION}) on the runner's host and start it again.`,
    { path: '$.version', details: { serverVersion: VERSION, runnerVersion: version } },
  );
}

/** The book answers read-only values; the route's schema types its answer as plain JSON, which they are. */
function mutable<Value>(value: Value): DeepMutable<Value> {
  return value as DeepMutable<Value>;
}

type DeepMutable<Value> = Value extends readonly (infer Element)[]
  ? DeepMutable<Element>[]
  : Value extends object
    ? { -readonly [Key in keyof Value]: DeepMutable<Value[Key]> }
    : Value;
