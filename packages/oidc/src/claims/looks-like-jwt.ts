/**
 * Whether a bearer credential has the shape of a signed JWT: three parts in canonical base64url,
 * the first a JSON header naming an algorithm. A host uses it to send JWTs to the OIDC authorizer
 * and every other credential (Cairn's own `cairn_...` tokens) to its token table; it proves nothing.
 * Canonical: the unused low bits of the last character are zero, so a token with its last
 * character changed is a different credential, never a second spelling of the same one.
 */
export function looksLikeJwt(credential: string): boolean {
  const parts = credential.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]+$/.test(part) || Buffer.from(part, 'base64url').toString('base64url') !== part)) return false;
  try {
    const header: unknown = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}
