import type { Digest } from '@cairn/core';

/**
 * `inbox/processed/<file>.json`: what became of a spec file. Written before the file is deleted,
 * so a file that is gone always has one. A later file of the same name replaces it (the audit
 * log keeps every run); `created: false` means the submission matched a run that already existed
 * (same file name and bytes, or the spec's own idempotency key).
 */
export interface InboxReceipt {
  /** The file's name inside the inbox. */
  readonly file: string;
  readonly runId: string;
  readonly created: boolean;
  /** sha256 of the file's bytes. */
  readonly digest: Digest;
  readonly ingestedAt: string;
}

/** One problem of a refused spec, located by JSON path (`$.items[2].id`). */
export interface InboxIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * `inbox/rejected/<file>.reason.json`: why a file was not submitted, for its author to fix. The
 * file's bytes are beside it at `inbox/rejected/<file>`, except when it was too large to move:
 * then it is still in the inbox, and the message says so.
 */
export interface InboxRejection {
  readonly file: string;
  /** The catalogue code (CAIRN_RUN_SPEC_INVALID, CAIRN_RUN_SPEC_UNPARSABLE, ...). */
  readonly code: string;
  readonly message: string;
  /** Every problem validation found, when it found any. */
  readonly issues?: readonly InboxIssue[];
  readonly rejectedAt: string;
}

/**
 * `inbox/rejected/stray-<sha256 of the name's bytes>.reason.json`: an entry of the inbox that is
 * not a file the storage can name (a link, a FIFO, a name with a backslash or a control
 * character, not UTF-8). The entry itself was renamed, unread, to the key beside it.
 */
export interface InboxStrayRejection {
  /** The entry's name as text (invalid UTF-8 bytes replaced). */
  readonly file: string;
  /** The name's exact bytes, when they are not UTF-8. */
  readonly fileBase64?: string;
  readonly kind: 'symlink' | 'fifo' | 'socket' | 'device' | 'unnamed';
  readonly code: string;
  readonly message: string;
  readonly rejectedAt: string;
}
