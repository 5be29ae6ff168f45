import type { CipherEnvelope } from '@cairn/core';
import type { z } from 'zod';
import type { Engine } from '../../engine.ts';

/** Opens what a replica sealed with the deployment's cipher for its trip (a secret's value), under `context`. */
export type OpenSealed = (sealed: CipherEnvelope, context: Readonly<Record<string, string>>) => Promise<Uint8Array>;

/**
 * One command a replica sends the engine that holds the writer lease (ADR 0023), declared once.
 * Its payload and actor cross JSON to the engine and its result crosses JSON back, so each has a
 * schema that checks it where it arrives; `apply` carries it out as the engine's own method does,
 * with the same checks and the same errors. The payload schemas check shapes only: what the
 * values mean (a spec, a cron expression, a secret's name) the engine checks, as it does for a
 * caller in its own process.
 */
export interface EngineCommand<Payload, Actor, Result> {
  readonly payload: z.ZodType<Payload>;
  /** Who asked, whom the command is audited as; `null` for one that changes nothing. */
  readonly actor: z.ZodType<Actor>;
  readonly result: z.ZodType<Result>;
  apply(engine: Engine, payload: Payload, actor: Actor, openSealed: OpenSealed): Result | Promise<Result>;
}

/** Declares a command, its types read from its schemas. */
export function engineCommand<Payload, Actor, Result>(command: EngineCommand<Payload, Actor, Result>): EngineCommand<Payload, Actor, Result> {
  return command;
}
