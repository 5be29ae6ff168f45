import type { ClientConfig } from './client-contexts.ts';

const contextName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * What the client config's schema (`clientConfigSchema`) outputs for `value`, found without zod
 * (whose import costs a client command more than the rest of its start), or undefined when this
 * cannot be sure. It accepts only what the schema accepts, as it is (plain objects, known keys,
 * `http(s)://` URLs with nothing for the schema to trim or strip, non-empty strings, an expiry as
 * `Date.toISOString` writes it), and fills in the schema's default; anything else is left to the
 * schema, which alone words the errors. A test holds the two equal wherever this one answers.
 */
export function quicklyCheckedClientConfig(value: unknown): ClientConfig | undefined {
  if (!isPlainObject(value, ['current', 'contexts'])) return undefined;
  const { current, contexts = {} } = value;
  if (current !== undefined && !isNonEmptyString(current)) return undefined;
  if (!isPlainObject(contexts, undefined)) return undefined;
  for (const [name, context] of Object.entries(contexts)) if (!contextName.test(name) || !isContext(context)) return undefined;
  return { ...value, contexts } as ClientConfig;
}

function isContext(context: unknown): boolean {
  if (!isPlainObject(context, ['server', 'token', 'login'])) return false;
  const { server, token, login } = context;
  if (!isPlainHttpUrl(server) || (token !== undefined && !isNonEmptyString(token))) return false;
  if (login === undefined) return true;
  if (!isPlainObject(login, ['issuer', 'clientId', 'refreshToken', 'expiresAt'])) return false;
  const { issuer, clientId, refreshToken, expiresAt } = login;
  return (
    isPlainHttpUrl(issuer) &&
    isNonEmptyString(clientId) &&
    (refreshToken === undefined || isNonEmptyString(refreshToken)) &&
    (expiresAt === undefined || isIsoTime(expiresAt))
  );
}

/** A plain object (as a YAML mapping parses) whose own keys are among `keys` (any, when undefined); none of them set to undefined. */
function isPlainObject(value: unknown, keys: readonly string[] | undefined): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.entries(value).every(([key, entry]) => entry !== undefined && (keys === undefined || keys.includes(key)));
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isPlainHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string' || value !== value.trim() || /[\t\n\r]/.test(value) || !/^https?:\/\//i.test(value) || !URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'http:' || protocol === 'https:';
}

/** A UTC time as `Date.prototype.toISOString` writes it, of a real date (it reads back the same). */
function isIsoTime(value: unknown): boolean {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(value)) return false;
  const time = Date.parse(value);
  return !Number.isNaN(time) && new Date(time).toISOString() === value;
}
