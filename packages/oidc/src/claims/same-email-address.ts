/**
 * Whether a grant's address names the address the identity provider verified (ADR 0046): the
 * domain compares without regard to case (DNS names are case-insensitive, RFC 4343), the local part
 * exactly as the provider's verified claim gives it (RFC 5321 §2.4: only the receiving host may
 * treat it case-insensitively, and `Bo@` and `bo@` can be two mailboxes). Nothing else is
 * normalised: no trimming, no dots or `+tags` dropped. A grant spelt in another case than the
 * provider's claim grants nothing: a refusal, never someone else's role.
 */
export function sameEmailAddress(verified: string, granted: string): boolean {
  const split = (address: string) => {
    const at = address.lastIndexOf('@');
    return at <= 0 ? undefined : { local: address.slice(0, at), domain: address.slice(at + 1) };
  };
  const left = split(verified);
  const right = split(granted);
  return left !== undefined && right !== undefined && left.local === right.local && left.domain.toLowerCase() === right.domain.toLowerCase();
}
