import type { Digest } from './digest.ts';
import type { PublicKeyRecord } from './signature.ts';

/** What a delegated key may sign. One purpose today: the engine's dispatch manifests. */
export type KeyDelegationPurpose = 'dispatch-manifest';

/**
 * A delegation statement's payload: the key `delegatedBy` (the checkpoint signer) vouches for
 * `delegate`, for `purpose` only. Signed once by `delegatedBy` as a DSSE envelope, so that the
 * many signatures of the purpose (one per dispatch) are made by a cheap local key rather than the
 * checkpoint key (a KMS key: one remote call each). A verifier trusts `delegate` only through a
 * statement that verifies under a key it already trusts, never because a bundle or storage holds it.
 */
export interface KeyDelegation {
  readonly delegate: PublicKeyRecord;
  readonly purpose: KeyDelegationPurpose;
  /** Key id of the key that signs the statement. */
  readonly delegatedBy: Digest;
  /** ISO 8601 UTC time the statement was made (the engine process start). */
  readonly issuedAt: string;
}
