import type { z } from 'zod';

/**
 * T with readonly arrays made mutable at every level, as zod outputs them (readonly properties do
 * not affect assignability; readonly arrays do). `undefined` is dropped from property types because
 * indexed access adds it to optional properties; core types never use `undefined` as a value.
 */
type Writable<T> = T extends readonly (infer Element)[]
  ? Writable<Element>[]
  : T extends object
    ? { -readonly [Key in keyof T]: Writable<Exclude<T[Key], undefined>> }
    : T;

type MutuallyAssignable<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * `true` exactly when what `Schema` accepts is the `@cairn/core` type `T` (readonly aside):
 * every value the schema lets through is a T, and every T field is described by the schema.
 * Used as `true satisfies SchemaImplements<typeof schema, T>`: a drift between core and protocol
 * fails `tsc -b`.
 */
export type SchemaImplements<Schema extends z.ZodType, T> = MutuallyAssignable<z.output<Schema>, Writable<T>>;
