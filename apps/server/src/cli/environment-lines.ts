/** An item's `environment` as the API reports it (`ItemEnvironment`, `AttemptEnvironment`). */
export interface EnvironmentView {
  readonly attempt?: number;
  readonly digest: string;
  readonly built: boolean;
  readonly setupMs: number;
  readonly log: string;
  readonly egress?: string;
}

/**
 * The `environment` of an item or attempt the server answered, when it has one that reads as one;
 * loose, as `egressOf` is: a newer server's added fields do not hide it. Checked by hand, not with
 * zod: `cairn status` loads this file, and zod costs every `cairn` start tens of milliseconds.
 */
export function environmentOf(view: { readonly [field: string]: unknown }): EnvironmentView | undefined {
  const environment = view['environment'];
  if (typeof environment !== 'object' || environment === null) return undefined;
  const { attempt, digest, built, setupMs, log, egress } = environment as Record<string, unknown>;
  if (!(attempt === undefined || Number.isSafeInteger(attempt)) || typeof digest !== 'string' || typeof built !== 'boolean') return undefined;
  if (typeof setupMs !== 'number' || !(setupMs >= 0) || typeof log !== 'string' || !(egress === undefined || typeof egress === 'string')) return undefined;
  return {
    ...(attempt === undefined ? {} : { attempt: attempt as number }),
    digest,
    built,
    setupMs,
    log,
    ...(egress === undefined ? {} : { egress }),
  };
}

/**
 * An item's warm environment (ADR 0056) as one line, `indent` spaces in: its digest shortened, and
 * whether the attempt built it (with the setup's time) or reused a layer built before (with what
 * its setup took then). None without an environment.
 */
export function environmentLines(environment: EnvironmentView | undefined, indent = 2): string[] {
  if (environment === undefined) return [];
  const attempt = environment.attempt === undefined ? '' : ` (attempt ${environment.attempt})`;
  const seconds = `${(environment.setupMs / 1_000).toFixed(1)} s`;
  const how = environment.built ? `built in ${seconds}` : `reused (its setup took ${seconds})`;
  return [`${' '.repeat(indent)}environment${attempt}: ${shortDigest(environment.digest)} ${how}`];
}

/** `sha256:` and the first 12 hex digits, then an ellipsis: enough to tell environments apart on a line. */
function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return digest.length > colon + 13 ? `${digest.slice(0, colon + 13)}…` : digest;
}
