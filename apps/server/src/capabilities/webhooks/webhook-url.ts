/**
 * What is wrong with a webhook URL, or `undefined` when it is fit to deliver to: absolute, http or
 * https, and without a user name or password (an endpoint's URL is listed to admins and logged on
 * failures; credentials in it would leak there — authenticate the sender by its signature instead).
 */
export function webhookUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute http:// or https:// URL, e.g. https://example.com/hooks/cairn';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `must be an http:// or https:// URL, not ${parsed.protocol}`;
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry a user name or password; receivers authenticate deliveries by their signature';
  return undefined;
}
