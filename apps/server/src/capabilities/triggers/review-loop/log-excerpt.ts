import { redactSecretShapes } from '../../../logging/secret-shapes.ts';

/** How much of a failed check's report or job log a follow-up is given (`triggers.github.reviewLoop.logExcerpt`). */
export interface LogExcerptBounds {
  /** The most lines, counted from the end (where a failure is). */
  readonly maxLines: number;
  /** The most bytes of UTF-8, counted from the end, after the lines. */
  readonly maxBytes: number;
}

/**
 * Credentials a CI log may print whatever GitHub masks (it masks only the secrets it was given):
 * tokens with a known prefix, an authorization header's value, a URL's user and password, a
 * private key block. Replaced before the log is cut, so a cut never leaves half a token that no
 * longer looks like one.
 */
const credentialShapes: readonly [RegExp, string][] = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[redacted private key]'],
  [/\b(gh[pousr]_)[A-Za-z0-9]{20,}/g, '$1[redacted]'],
  [/\b(github_pat_)[A-Za-z0-9_]{20,}/g, '$1[redacted]'],
  [/\b(sk-(?:ant-|proj-)?)[A-Za-z0-9_-]{16,}/g, '$1[redacted]'],
  [/\b((?:AKIA|ASIA)[0-9A-Z]{4})[0-9A-Z]{12}\b/g, '$1[redacted]'],
  [/\b(xox[abprs]-)[A-Za-z0-9-]{10,}/g, '$1[redacted]'],
  [/\b(authorization\s*[:=]\s*(?:bearer|token|basic)?\s*)[^\s"']+/gi, '$1[redacted]'],
  [/\b(bearer\s+)[A-Za-z0-9._~+/=-]{16,}/gi, '$1[redacted]'],
  [/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, '$1[redacted]@'],
];

/** GitHub Actions prefixes each log line with its time (`2024-05-01T10:00:00.1234567Z `); it says nothing of the failure. */
const timestampPrefix = /^\uFEFF?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z /gm;
// eslint-disable-next-line no-control-regex -- the escape sequences a terminal colours with are control characters
const terminalEscapes = /\u001b\[[0-9;]*[A-Za-z]/g;

/** `text` with every credential-shaped run replaced by its prefix and `[redacted]`. */
export function redactCredentials(text: string): string {
  let redacted = redactSecretShapes(text);
  for (const [shape, replacement] of credentialShapes) redacted = redacted.replace(shape, replacement);
  return redacted;
}

/**
 * The end of a failed check's report or job log, as a follow-up is given it: credentials
 * redacted, timestamps and terminal colours dropped, then its last `maxLines` lines and, of those,
 * its last `maxBytes` bytes, saying at the top how much was cut.
 */
export function logExcerpt(text: string, bounds: LogExcerptBounds): string {
  const lines = redactCredentials(text.replace(timestampPrefix, '').replace(terminalEscapes, '')).replace(/\s+$/, '').split('\n');
  const kept = lines.slice(-bounds.maxLines);
  const cutLines = lines.length - kept.length;
  let excerpt = kept.join('\n');
  let cutBytes = 0;
  const bytes = Buffer.from(excerpt, 'utf8');
  if (bytes.length > bounds.maxBytes) {
    // Cut on a character's first byte, never inside one.
    let start = bytes.length - bounds.maxBytes;
    while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start += 1;
    cutBytes = start;
    excerpt = bytes.subarray(start).toString('utf8');
  }
  if (cutLines === 0 && cutBytes === 0) return excerpt;
  const said = [cutLines > 0 ? `${cutLines} earlier lines` : '', cutBytes > 0 ? `${cutBytes} more bytes` : ''].filter(Boolean).join(' and ');
  return `(${said} cut) …\n${excerpt}`;
}
