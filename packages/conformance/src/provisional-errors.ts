// TEMPORARY: stands in for @cairn/protocol's CairnError until it lands; deleted when aligning.
const marker = Symbol.for('cairn.error');
export class CairnError extends Error {
  readonly [marker] = true;
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) { super(message, options); }
}
export function isCairnError(error: unknown, code?: string): error is CairnError {
  return typeof error === 'object' && error !== null && marker in error && (code === undefined || (error as CairnError).code === code);
}
