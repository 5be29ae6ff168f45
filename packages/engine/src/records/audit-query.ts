/** Which entries of the log to read. Every field narrows; an absent one keeps everything. */
export interface AuditQuery {
  /** First sequence number, inclusive (0 by default). */
  readonly from?: number;
  /** Last sequence number, exclusive (the log's size when the read starts, by default). */
  readonly to?: number;
  readonly runId?: string;
  /** An audit action (`item.reused`). */
  readonly action?: string;
  /** An actor id (a user name, a token id, `engine`). */
  readonly actorId?: string;
  /** ISO time, inclusive. */
  readonly since?: string;
  /** ISO time, exclusive. */
  readonly until?: string;
}
