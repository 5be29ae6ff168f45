import type { PublicKeyRecord } from './signature.ts';

/**
 * The statement by which a log's signing key hands the log over to its successor: from the
 * checkpoint at `fromCheckpoint` entries (root `rootHash`) on, checkpoints of `origin` are signed
 * by `to`. Signed BY THE OLD KEY (`from`) as the payload of a DSSE envelope (payloadType
 * `application/vnd.cairn.signer-rotation+json`, canonical JSON), and recorded in the log by a
 * `signer.rotated` entry whose `data.statement` is that envelope (ADR 0019).
 */
export interface SignerRotation {
  readonly version: 'cairn.signer-rotation/v1';
  /** The log handed over (a statement for one log never hands over another). */
  readonly origin: string;
  /** The key that signed the log until now, and signs this statement. */
  readonly from: PublicKeyRecord;
  /** The key that signs every checkpoint after the `signer.rotated` entry. */
  readonly to: PublicKeyRecord;
  /** Tree size of the last checkpoint `from` signed: the handover point. */
  readonly fromCheckpoint: number;
  /** Root hash (lowercase hex) of that checkpoint, binding the statement to this history. */
  readonly rootHash: string;
  /** ISO 8601 UTC time of the handover. */
  readonly time: string;
}
