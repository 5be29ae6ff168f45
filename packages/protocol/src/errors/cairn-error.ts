import type { JsonValue } from '@cairn/core';
import { errorCatalogue, type CairnErrorCode } from './error-catalogue.ts';

/** One problem found while validating input, located by JSON path (`$.items[2].id`). */
export interface ValidationIssue {
  /** The catalogue code this problem would raise on its own. */
  readonly code: CairnErrorCode;
  readonly path: string;
  /** What is wrong and what to do, in one or two sentences. */
  readonly message: string;
}

export interface CairnErrorOptions {
  /** Where the problem is: a JSON path, an option path or a file. */
  readonly path?: string;
  /** Every problem, when validation found several. */
  readonly issues?: readonly ValidationIssue[];
  /** Machine-readable facts for callers (never secrets). */
  readonly details?: Readonly<Record<string, JsonValue>>;
  /** What to do, where this error knows better than its code's catalogue entry (which is said otherwise). */
  readonly action?: string;
  readonly cause?: unknown;
}

// A registered symbol, so errors from two copies of this package are still recognised.
const cairnErrorBrand = Symbol.for('cairn.error');

/**
 * The one error type Cairn raises. `code` is from the closed catalogue; `message` says what was
 * wrong and where; `action` says what to do (the catalogue's for the code, unless the error was
 * given a more specific one).
 */
export class CairnError extends Error {
  readonly code: CairnErrorCode;
  readonly path: string | undefined;
  readonly issues: readonly ValidationIssue[];
  readonly details: Readonly<Record<string, JsonValue>>;
  readonly #action: string | undefined;
  readonly [cairnErrorBrand] = true;

  constructor(code: CairnErrorCode, message: string, options: CairnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CairnError';
    this.code = code;
    this.path = options.path;
    this.issues = options.issues ?? [];
    this.details = options.details ?? {};
    this.#action = options.action;
  }

  /** What to do about this error: its own advice, else the catalogue's for its code. */
  get action(): string {
    return this.#action ?? errorCatalogue[this.code].action;
  }

  /** The HTTP status for this error. */
  get status(): number {
    return errorCatalogue[this.code].status;
  }

  /** The shape the HTTP API and `--json` output use. */
  toJSON(): { code: CairnErrorCode; message: string; action: string; path?: string; issues?: ValidationIssue[]; details?: Record<string, JsonValue> } {
    return {
      code: this.code,
      message: this.message,
      action: this.action,
      ...(this.path === undefined ? {} : { path: this.path }),
      ...(this.issues.length === 0 ? {} : { issues: [...this.issues] }),
      ...(Object.keys(this.details).length === 0 ? {} : { details: { ...this.details } }),
    };
  }
}

/** True when `error` is a CairnError (from any copy of this package), optionally of one code. */
export function isCairnError(error: unknown, code?: CairnErrorCode): error is CairnError {
  if (typeof error !== 'object' || error === null || !(cairnErrorBrand in error)) return false;
  return code === undefined || (error as CairnError).code === code;
}
