import type { CipherEnvelope, CipherV1 } from '@cairn/core';
import { cipherEnvelopeSchema, isCairnError, parsePayload } from '@cairn/protocol';
import type { SealedSecret } from '../records/sealed-secret.ts';

/** The cipher context a secret's value is sealed in: its name and version, so a row copied to another name or rolled back does not open. */
export function secretContext(name: string, version: number): Readonly<Record<string, string>> {
  return { secret: name, version: String(version) };
}

/**
 * Opens a secret's stored row with the deployment's cipher, wherever the row was read (the engine's
 * working copy, or PostgreSQL by any replica): the value, or why it did not open, said after the
 * secret's name ("could not be decrypted (...): ..."), never with the value or the key material.
 */
export async function openSealedSecret(
  cipher: CipherV1,
  name: string,
  sealed: SealedSecret,
): Promise<{ readonly value: string } | { readonly unopened: string }> {
  try {
    const envelope = parsePayload(cipherEnvelopeSchema, JSON.parse(sealed.envelope), `secret ${name}`) as CipherEnvelope;
    return { value: new TextDecoder().decode(await cipher.decrypt(envelope, secretContext(name, sealed.version))) };
  } catch (error) {
    // A key service that refused or did not answer (KMS) says why and what to do; setting the
    // secret again would not help, and its message names keys and permissions, never values.
    if (isCairnError(error, 'CAIRN_CIPHER_UNAVAILABLE'))
      return { unopened: `could not be decrypted (CAIRN_CIPHER_UNAVAILABLE): ${error.message.replace(/\.$/, '')}` };
    return { unopened: `could not be decrypted (${(error as { code?: string }).code ?? 'error'}): the cipher key may have changed; set the secret again` };
  }
}
