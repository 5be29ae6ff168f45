import type { CairnErrorCode } from '@cairn/protocol';

/**
 * Why an item cannot be dispatched at all — its executor is not configured, an input it needs was
 * never produced, a secret it names is gone or does not decrypt — with the code it fails with. A
 * value each step that can refuse returns, so its type says it may, and the dispatcher fails the
 * item with it at once (a retry would meet the same refusal).
 */
export interface DispatchRefusal {
  readonly refused: CairnErrorCode;
  readonly reason: string;
}

export function dispatchRefusal(code: CairnErrorCode, reason: string): DispatchRefusal {
  return { refused: code, reason };
}

export function isDispatchRefusal<T extends object>(value: T | DispatchRefusal): value is DispatchRefusal {
  return 'refused' in value;
}
