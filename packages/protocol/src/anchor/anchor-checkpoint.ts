import type { AnchorCheckpoint } from '@cairn/core';
import { CairnError } from '../errors/cairn-error.ts';

/**
 * Refuses a checkpoint an anchor could not name in its store or would make an invalid receipt
 * from (CAIRN_PAYLOAD_INVALID, naming the anchor's `provider` and the field), before any I/O.
 * `maximumEnvelopeBytes` bounds what an anchor keeps, where its store has a limit.
 */
export function assertAnchorCheckpoint(checkpoint: AnchorCheckpoint, provider: string, maximumEnvelopeBytes = Number.POSITIVE_INFINITY): void {
  const problem =
    typeof checkpoint.origin !== 'string' || checkpoint.origin.length === 0
      ? 'origin must be a non-empty string'
      : !Number.isSafeInteger(checkpoint.treeSize) || checkpoint.treeSize < 0
        ? 'treeSize must be a whole number from 0'
        : typeof checkpoint.rootHash !== 'string' || !/^[0-9a-f]{64}$/.test(checkpoint.rootHash)
          ? 'rootHash must be 64 lowercase hex digits'
          : !(checkpoint.envelope instanceof Uint8Array)
            ? 'envelope must be bytes (a Uint8Array)'
            : checkpoint.envelope.byteLength > maximumEnvelopeBytes
              ? `envelope must be at most ${maximumEnvelopeBytes} bytes`
              : undefined;
  if (problem !== undefined) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `[cairn] [${provider}] the checkpoint to anchor is malformed: ${problem}. Anchor what the engine's checkpointer produces.`,
    );
  }
}
