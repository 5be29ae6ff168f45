import { formatJsonPath } from '@cairn/protocol';
import { fail } from './fail.ts';

/** What the suites need of a protocol schema (a zod schema): a parse that reports its issues. */
export interface SafeParsingSchema {
  safeParse(
    value: unknown,
  ):
    | { readonly success: true }
    | { readonly success: false; readonly error: { readonly issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[] } };
}

/**
 * Asserts that `value` is valid under a `@cairn/protocol` schema (the wire form of a core type),
 * failing with the first problem's JSON path: `receipt: not a valid AnchorReceipt: $.envelopeDigest ...`.
 */
export function expectSchema(schema: SafeParsingSchema, value: unknown, typeName: string, what: string): void {
  const parsed = schema.safeParse(value);
  if (parsed.success) return;
  const [issue] = parsed.error.issues;
  const more = parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more)` : '';
  fail(`${what}: not a valid ${typeName}: ${formatJsonPath(issue?.path ?? [])} ${issue?.message ?? 'is invalid'}${more}`);
}
