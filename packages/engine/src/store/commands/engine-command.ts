import type { CipherEnvelope } from '@cairn/core';
import type { z } from 'zod';
import type { Engine } from '../../engine.ts';

/** Opens what a replica sealed with the deployment's cipher for its trip (a secret's value), under `context`. */
export type OpenSealed = (sealed: CipherEnvelope, context: Readonly<Record<string, string>>) => Promise<Uint8Array>;

/** Seals a value with the deployment's cipher for its trip to the leader, under `context` (the leader opens it with `OpenSealed`). */
export type SealForTrip = (value: Uint8Array, context: Readonly<Record<string, string>>) => Promise<CipherEnvelope>;

/**
 * One command a replica sends the engine that holds the writer lease (ADR 0023), declared once.
 * Its payload and actor cross JSON to the engine and its result crosses JSON back, so each has a
 * schema that checks it where it arrives; `apply` carries it out as the engine's own method does,
 * with the same checks and the same errors. The payload schemas check shapes only: what the
 * values mean (a spec, a cron expression, a secret's name) the engine checks, as it does for a
 * caller in its own process. A result of `void` travels as `null`.
 */
export interface EngineCommand<Payload, Actor, Result> {
  readonly payload: z.ZodType<Payload>;
  /** Who asked, whom the command is audited as; `null` for one that changes nothing. */
  readonly actor: z.ZodType<Actor>;
  readonly result: z.ZodType<Result>;
  apply(engine: Engine, payload: Payload, actor: Actor, openSealed: OpenSealed): Result | Promise<Result>;
}

/** What a service method's arguments become to travel: the command's payload, and whom it is audited as. */
export interface CommandRequest<Payload, Actor> {
  readonly payload: Payload;
  readonly actor: Actor;
}

/**
 * A command that is also a method of `EngineService`, with the same name in camelCase
 * (`raise-budget` is `raiseBudget`) and the arguments of `call` less the engine: the method's type
 * is derived from the entry (`CommandMethods`), and both services forward every such method
 * through one generic dispatch, so a new command is an entry here and its engine method, nothing
 * in either service.
 */
export interface ServiceCommand<Payload, Actor, Result, Args extends readonly unknown[]> extends EngineCommand<Payload, Actor, Result> {
  /** Carries the command out in the engine's own process (SQLite mode), with the method's arguments. */
  call(engine: Engine, ...args: Args): Result | Promise<Result>;
  /** The method's arguments as the command a replica sends (PostgreSQL mode); `seal` keeps a value out of the database. */
  // NoInfer: the payload's type is the schema's; a request is checked against it, never widens it.
  request(seal: SealForTrip, ...args: Args): NoInfer<CommandRequest<Payload, Actor>> | Promise<NoInfer<CommandRequest<Payload, Actor>>>;
  /**
   * Whether a request whose fate is unknown (the connection was cut before the database answered:
   * CAIRN_STATE_UNAVAILABLE with `recorded: unknown`) is sent once more. Only for a request the
   * engine answers the same way twice (a submission with an idempotency key); never by default.
   */
  resendWhenUnknown?(payload: Payload): boolean;
}

/** Declares a command, its types read from its schemas. */
export function engineCommand<Payload, Actor, Result>(command: EngineCommand<Payload, Actor, Result>): EngineCommand<Payload, Actor, Result> {
  return command;
}

/** Declares a command that is a service method, its types read from its schemas and its method's arguments from `call`. */
export function serviceCommand<Payload, Actor, Result, Args extends readonly unknown[]>(
  command: ServiceCommand<Payload, Actor, Result, Args>,
): ServiceCommand<Payload, Actor, Result, Args> {
  return command;
}
