import type { CairnClientSettings, CheckedCairnClientSettings } from './cairn-client-settings.ts';

const options = new Set(['baseUrl', 'token', 'reconnectDelayMs', 'reconnectAttempts']);

/**
 * What `cairnClientSettingsSchema` outputs for `settings`, found without zod (whose import costs
 * a `cairn` start more than the rest of the command), or undefined when this cannot be sure. It
 * accepts only settings the schema accepts, as they are (plain, an `http(s)://` URL with nothing
 * for the schema to trim or strip, whole numbers within the schema's bounds), and fills in the
 * schema's defaults; anything else, even what the schema would accept, is left to the schema,
 * which alone words the errors. A test holds the two equal wherever this one answers.
 */
export function quicklyCheckedSettings(settings: CairnClientSettings): CheckedCairnClientSettings | undefined {
  const given: unknown = settings;
  if (typeof given !== 'object' || given === null || Object.getPrototypeOf(given) !== Object.prototype) return undefined;
  const record = given as Record<string, unknown>;
  if (!Object.keys(record).every((key) => options.has(key))) return undefined;
  const { baseUrl, token, reconnectDelayMs = 500, reconnectAttempts = 10 } = record;
  if (!isPlainHttpUrl(baseUrl)) return undefined;
  if (token !== undefined && (typeof token !== 'string' || token.length === 0)) return undefined;
  if (!isWholeNumberWithin(reconnectDelayMs, 60_000) || !isWholeNumberWithin(reconnectAttempts, 1_000)) return undefined;
  return { baseUrl, ...('token' in record ? { token } : {}), reconnectDelayMs, reconnectAttempts } as CheckedCairnClientSettings;
}

function isPlainHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value !== value.trim() || /[\t\n\r]/.test(value) || !/^https?:\/\//i.test(value)) return false;
  if (!URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'http:' || protocol === 'https:';
}

function isWholeNumberWithin(value: unknown, maximum: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= maximum;
}
