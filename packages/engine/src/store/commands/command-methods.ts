import type { z } from 'zod';
import type { Engine } from '../../engine.ts';

// Restate's `IngressClient<M>` is the model: a client's methods are a mapped type over the
// handlers' declarations, so a handler is declared once and every client has its method.

/** A command's kind as its method's name: `raise-budget` is `raiseBudget`. */
export type MethodName<Kind extends string> = Kind extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<MethodName<Tail>>}` : Kind;

/** The arguments of a service command's method: its `call`'s, less the engine. */
export type ArgumentsOf<Command> = Command extends { call(engine: Engine, ...args: infer Args): unknown } ? Args : never;

/** What a command answers, read from its result schema. */
export type ResultOf<Command> = Command extends { readonly result: z.ZodType<infer Result> } ? Result : never;

/**
 * The methods a table of service commands makes: one per entry, named after its kind in camelCase,
 * taking its `call`'s arguments and answering its result once it is recorded.
 */
export type CommandMethods<Table> = {
  readonly [Kind in keyof Table & string as MethodName<Kind>]: (...args: ArgumentsOf<Table[Kind]>) => Promise<ResultOf<Table[Kind]>>;
};

/** `MethodName` at run time. */
export function methodNameOf(kind: string): string {
  return kind.replace(/-([a-z])/g, (_dash, letter: string) => letter.toUpperCase());
}
