import type { EgressRecordCounts } from '@cairn/core';

/** What an egress record says, counted: its connections by decision, and the refused and cut ones by reason. */
export type EgressCounts = Pick<EgressRecordCounts, 'allowed' | 'refused' | 'cut' | 'refusedBy' | 'cutBy'>;

/** An egress record read: its counts, or the first line that is not a record and what is wrong with it. */
export type EgressRecordReading = { readonly counts: EgressCounts } | { readonly line: number; readonly problem: string };

type FieldCheck = (value: unknown) => string | undefined;

const text = (value: unknown) => (typeof value === 'string' && value.length > 0 ? undefined : 'is not a non-empty string');
const textOrNull = (value: unknown) => (value === null ? undefined : text(value));
const oneOf =
  (...allowed: string[]) =>
  (value: unknown) =>
    typeof value === 'string' && allowed.includes(value) ? undefined : `is ${JSON.stringify(value)}, not one of ${allowed.join(', ')}`;
const wholeNumber = (most: number) => (value: unknown) =>
  Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= most ? undefined : `is ${JSON.stringify(value)}, not a whole number 0..${most}`;
// A reason is a kebab-case name from the proxy's closed set (docs/audit/formats.md); a verifier
// counts the names it finds rather than refusing a reason added after it was built.
const reasonName = (value: unknown) =>
  value === null || (typeof value === 'string' && /^[a-z]+(?:-[a-z]+)*$/.test(value)) ? undefined : `is ${JSON.stringify(value)}, not a reason name or null`;
const instant = (value: unknown) =>
  typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/.test(value) && !Number.isNaN(Date.parse(value))
    ? undefined
    : `is ${JSON.stringify(value)}, not an ISO 8601 UTC time`;
const instantOrNull = (value: unknown) => (value === null ? undefined : instant(value));

/** Every field of a record (packages/worker's EgressRecord), each present in every line. */
const fields: Readonly<Record<string, FieldCheck>> = {
  host: text,
  port: wholeNumber(65_535),
  kind: oneOf('connect', 'http'),
  address: textOrNull,
  decision: oneOf('allowed', 'refused', 'cut'),
  rule: textOrNull,
  reason: reasonName,
  message: textOrNull,
  wouldAdmit: textOrNull,
  bytesIn: wholeNumber(Number.MAX_SAFE_INTEGER),
  bytesOut: wholeNumber(Number.MAX_SAFE_INTEGER),
  credential: textOrNull,
  startedAt: instant,
  endedAt: instantOrNull,
};

/**
 * Reads an attempt's egress record (ADR 0049): NDJSON, each line one JSON object with exactly the
 * record's fields and types, each ended by a newline (no connection: no bytes). A connection
 * `allowed` has no reason; one `refused` or `cut` has one. The first line that is not a record
 * is named (from 1) with what is wrong with it.
 */
export function readEgressRecord(bytes: Uint8Array): EgressRecordReading {
  const counts = { allowed: 0, refused: 0, cut: 0, refusedBy: {} as Record<string, number>, cutBy: {} as Record<string, number> };
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  for (let line = 1; start < bytes.length; line++) {
    const end = bytes.indexOf(0x0a, start);
    if (end < 0) return { line, problem: 'does not end with a newline (each record of the NDJSON ends with one)' };
    let record: unknown;
    try {
      record = JSON.parse(decoder.decode(bytes.subarray(start, end)));
    } catch (error) {
      return { line, problem: `is not JSON (${error instanceof Error ? error.message : String(error)})` };
    }
    start = end + 1;
    const problem = recordProblem(record);
    if (problem !== undefined) return { line, problem };
    const { decision, reason } = record as { decision: 'allowed' | 'refused' | 'cut'; reason: string };
    counts[decision]++;
    if (decision === 'refused') counts.refusedBy[reason] = (counts.refusedBy[reason] ?? 0) + 1;
    if (decision === 'cut') counts.cutBy[reason] = (counts.cutBy[reason] ?? 0) + 1;
  }
  return { counts };
}

function recordProblem(record: unknown): string | undefined {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return 'is not a JSON object';
  const members = record as Record<string, unknown>;
  const unknown = Object.keys(members).find((name) => !Object.hasOwn(fields, name));
  if (unknown !== undefined) return `${unknown}: is not a field of the egress record`;
  for (const [name, check] of Object.entries(fields)) {
    if (!Object.hasOwn(members, name)) return `${name}: is missing (every field is present in every record, null where it does not apply)`;
    const problem = check(members[name]);
    if (problem !== undefined) return `${name}: ${problem}`;
  }
  if (members['decision'] === 'allowed' && members['reason'] !== null) return `reason: is ${JSON.stringify(members['reason'])} for an allowed connection`;
  if (members['decision'] !== 'allowed' && members['reason'] === null) return `reason: is null for a ${String(members['decision'])} connection`;
  return undefined;
}

/** One attempt's counts in words: `fetch#1: 3 allowed, 2 refused (not-allowed 1, address-forbidden 1)`, the cut ones after. */
export function describeEgressCounts(counts: EgressRecordCounts): string {
  const byReason = (reasons: Readonly<Record<string, number>>) =>
    Object.keys(reasons).length === 0
      ? ''
      : ` (${Object.entries(reasons)
          .map(([reason, count]) => `${reason} ${count}`)
          .join(', ')})`;
  const cut = counts.cut === 0 ? '' : `, ${counts.cut} cut${byReason(counts.cutBy)}`;
  return `${counts.itemId}#${counts.attempt}: ${counts.allowed} allowed, ${counts.refused} refused${byReason(counts.refusedBy)}${cut}`;
}
