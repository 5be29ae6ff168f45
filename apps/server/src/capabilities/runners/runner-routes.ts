import { runnerExitsAnswerSchema, runnerExitsRequestSchema, runnerPollAnswerSchema, runnerPollRequestSchema } from '@cairn/protocol';
import type { RunnerExecutor } from '@cairn/runner';
import type { HttpApp } from '../../http/http-app.ts';

/**
 * What a runner calls (ADR 0050), with a token whose only scope is `runners:run`: its poll (its
 * heartbeat, and how it takes leases) and its report of ended attempts. The runner's name is its
 * token's: one token per runner, revoked to cut it off.
 */
export function registerRunnerRoutes(app: HttpApp, runners: RunnerExecutor): void {
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
      // A runner that goes away mid-poll is answered nothing: its leases wait for its next poll.
      const stop = new AbortController();
      request.raw.once('close', () => stop.abort());
      return mutable(await runners.poll({ name: request.actor!.id }, request.body, stop.signal));
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
    async (request) => mutable(runners.reportExits({ name: request.actor!.id }, request.body.exits)),
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
