import { CairnError, isCairnError } from '@cairn/protocol';

/**
 * A server secret's value, read for the config option that names it. When the secret is not set
 * (or cannot be opened), the error names that option, so the person who reads it knows which part
 * of the config waits for which `cairn secret set`.
 */
export async function readConfiguredSecret(reveal: (name: string) => Promise<string>, name: string, option: string): Promise<string> {
  try {
    return await reveal(name);
  } catch (error) {
    if (!isCairnError(error, 'CAIRN_SECRET_UNAVAILABLE')) throw error;
    throw new CairnError(
      'CAIRN_SECRET_UNAVAILABLE',
      `${option} names the server secret ${name}, which is not set or cannot be opened: \`cairn secret set ${name}\`.`,
      {
        path: option,
        cause: error,
      },
    );
  }
}
