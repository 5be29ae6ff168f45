import type { AuditEntry } from '@cairn/core';
import { auditActions, auditEntityKinds, isTimestamp } from '@cairn/protocol';

const actions = new Set<string>(auditActions);
const entityKinds = new Set<string>(auditEntityKinds);
const actorKinds = new Set(['user', 'token', 'system']);
const channels = new Set(['http', 'cli', 'mcp', 'inbox', 'schedule', 'engine']);
const outcomes = new Set(['success', 'failure', 'denied']);
const entryFields = new Set(['seq', 'time', 'actor', 'action', 'entity', 'outcome', 'runId', 'runSeq', 'data']);
const actorFields = ['id', 'kind', 'via'];
const entityFields = ['id', 'kind'];

/**
 * What is wrong with `value` as an audit entry (`.field: message`), or undefined when it is one.
 * The same rules as `auditEntrySchema` of @cairn/protocol (a test holds them equal), written out
 * by hand because a verifier checks a million entries and the schema costs ten times more.
 */
export function auditEntryProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return ': must be an object';
  for (const name of Object.keys(value)) if (!entryFields.has(name)) return `.${name}: is not a field of an audit entry`;
  const entry = value as Partial<Record<keyof AuditEntry, unknown>>;
  if (!isCount(entry.seq)) return '.seq: must be a whole number from 0';
  if (!isTimestamp(entry.time)) return '.time: must be an ISO 8601 UTC time';
  const actor = entry.actor;
  if (!isRecord(actor) || !exactKeys(actor, actorFields)) return '.actor: must be { kind, id, via }';
  if (!actorKinds.has(actor['kind'] as string) || !isNonEmptyString(actor['id']) || !channels.has(actor['via'] as string))
    return '.actor: has an unknown kind or channel, or an empty id';
  if (!actions.has(entry.action as string)) return '.action: must be a known audit action';
  const entity = entry.entity;
  if (!isRecord(entity) || !exactKeys(entity, entityFields) || !entityKinds.has(entity['kind'] as string) || typeof entity['id'] !== 'string') {
    return '.entity: must be { kind, id } with a known kind';
  }
  if (!outcomes.has(entry.outcome as string)) return '.outcome: must be success, failure or denied';
  if (entry.runId !== undefined && !isNonEmptyString(entry.runId)) return '.runId: must be a non-empty string';
  if (entry.runSeq !== undefined && !isCount(entry.runSeq)) return '.runSeq: must be a whole number from 0';
  if ((entry.runId === undefined) !== (entry.runSeq === undefined)) return '.runSeq: runId and runSeq must be both present or both absent';
  if (!isRecord(entry.data)) return '.data: must be an object';
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// A loop over fixed lists rather than a list and a closure made at every call: this runs twice
// for each entry a log appends or a verifier reads.
function exactKeys(record: Record<string, unknown>, names: readonly string[]): boolean {
  if (Object.keys(record).length !== names.length) return false;
  for (let index = 0; index < names.length; index++) if (!Object.hasOwn(record, names[index]!)) return false;
  return true;
}

function isCount(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isNonEmptyString(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0;
}
