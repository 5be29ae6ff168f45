import { CairnError } from '@cairn/protocol';

/** Throws CAIRN_AUDIT_PROOF_INVALID unless `value` is a whole number from 0 (a size or index). */
export function assertTreeSize(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CairnError('CAIRN_AUDIT_PROOF_INVALID', `${name} must be a whole number from 0, got ${value}.`, { path: name });
  }
}
