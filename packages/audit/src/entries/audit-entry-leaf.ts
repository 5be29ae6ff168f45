import type { AuditEntry } from '@cairn/core';
import { canonicalJson, canonicalJsonBytes } from '@cairn/protocol';
import { leafHashOfText } from '../merkle/merkle-hash.ts';

/** The bytes of an audit entry in the log: its canonical JSON (RFC 8785), time and actor included. */
export function auditEntryBytes(entry: AuditEntry): Uint8Array {
  return canonicalJsonBytes(entry);
}

/** The Merkle leaf hash of an audit entry: SHA-256(0x00 ‖ canonical JSON). */
export function auditLeafHash(entry: AuditEntry): Uint8Array {
  return leafHashOfText(canonicalJson(entry));
}
