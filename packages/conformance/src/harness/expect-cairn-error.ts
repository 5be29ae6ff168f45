import { fail } from './fail.ts';
import { isCairnError, type CairnErrorCode } from '@cairn/protocol';

/**
 * Asserts that an asynchronous operation rejects with a CairnError of `code`. A synchronous throw
 * fails too: contract methods return promises, and a caller chaining `.catch` would miss it.
 */
export async function expectCairnError(operation: () => Promise<unknown>, code: CairnErrorCode, what: string): Promise<void> {
  let pending: Promise<unknown>;
  try {
    pending = operation();
  } catch (error) {
    fail(`${what}: threw synchronously (${describeError(error)}) instead of returning a rejected promise`);
  }
  let rejection: { error: unknown } | undefined;
  try {
    await pending;
  } catch (error) {
    rejection = { error };
  }
  if (!rejection) fail(`${what}: resolved, expected a rejection with ${code}`);
  if (!isCairnError(rejection.error, code)) {
    fail(`${what}: expected a CairnError ${code}, got ${describeError(rejection.error)}`);
  }
}

/** A short description of anything thrown, for failure messages. */
export function describeError(error: unknown): string {
  if (isCairnError(error)) return `CairnError ${error.code}: ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
