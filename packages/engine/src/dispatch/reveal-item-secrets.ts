import type { ItemSpec } from '@cairn/core';
import type { RevealedSecrets, SecretStore } from '../secrets/secret-store.ts';
import { dispatchRefusal, type DispatchRefusal } from '../dispatch-refusal.ts';

/**
 * The values of the secrets the item names, decrypted now, with their versions; undefined when it
 * names none, a refusal when one is missing (or no secret store is configured).
 */
export async function revealItemSecrets(secrets: SecretStore | undefined, spec: ItemSpec): Promise<RevealedSecrets | DispatchRefusal | undefined> {
  const names = spec.secrets ?? [];
  if (names.length === 0) return undefined;
  if (!secrets) return dispatchRefusal('CAIRN_SECRET_UNAVAILABLE', `secrets ${names.join(', ')}: no secret store is configured`);
  return secrets.reveal(names);
}
