import type { CipherV1 } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import type { SealedSecret } from '../records/sealed-secret.ts';
import { openSealedSecret } from './open-sealed-secret.ts';

/**
 * A server secret's value for the host's own use (a model provider's key, a forge's token, a
 * trigger's signing secret), never an item's, from its stored row (undefined: not set). The engine
 * and every PostgreSQL replica answer through this, so they answer alike: CAIRN_SECRET_UNAVAILABLE
 * naming the secret (in `path`) when it is not set or does not open. `purpose` says who asks, as the
 * message's subject ("The model gateway's openai provider (gateway.providers.openai.apiKeySecret)
 * needs the server secret OPENAI_KEY, which is not set: ..."); without it the message names only the secret.
 */
export async function revealServerSecret(cipher: CipherV1, name: string, sealed: SealedSecret | undefined, purpose?: string): Promise<string> {
  const subject = purpose === undefined ? `The server secret ${name}` : `${purpose} needs the server secret ${name}, which`;
  if (sealed === undefined)
    throw new CairnError('CAIRN_SECRET_UNAVAILABLE', `${subject} is not set: set it with \`cairn secret set ${name}\`.`, { path: name });
  const opened = await openSealedSecret(cipher, name, sealed);
  if ('unopened' in opened) throw new CairnError('CAIRN_SECRET_UNAVAILABLE', `${subject} ${opened.unopened}.`, { path: name });
  return opened.value;
}
