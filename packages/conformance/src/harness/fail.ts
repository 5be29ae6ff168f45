import { AssertionError } from 'node:assert';

/**
 * Fails the running case with a sentence that says what the implementation did wrong. Used where
 * an `expect` matcher would print a diff that hides the point (megabytes of bytes, an error
 * object's internals).
 */
export function fail(message: string): never {
  throw new AssertionError({ message });
}
