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
  if (!namesAllKnown(value)) for (const name of Object.keys(value)) if (!entryFields.has(name)) return `.${name}: is not a field of an audit entry`;
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

// for…in rather than Object.keys: no array per object, and a verifier reads a million entries of
// three objects each. for…in lists every own enumerable name (what Object.keys lists) and then any
// enumerable one inherited, so when all it lists are fields, so are all of Object.keys'; when it
// lists another (a polluted prototype), Object.keys decides, as it always did.
function namesAllKnown(record: Record<string, unknown>): boolean {
  for (const name in record) if (!entryFields.has(name)) return false;
  return true;
}

// A loop over fixed lists rather than a list and a closure made at every call: this runs twice
// for each entry a log appends or a verifier reads. The common case, for…in listing exactly the
// names, each its own, proves Object.keys lists exactly them (an own name for…in lists is
// enumerable) without building that array; anything else is decided by Object.keys.
function exactKeys(record: Record<string, unknown>, names: readonly string[]): boolean {
  if (!listsExactly(record, names)) {
    if (Object.keys(record).length !== names.length) return false;
  }
  for (let index = 0; index < names.length; index++) if (!Object.hasOwn(record, names[index]!)) return false;
  return true;
}

// Whether for…in lists `names`, in that order and nothing else.
function listsExactly(record: Record<string, unknown>, names: readonly string[]): boolean {
  let index = 0;
  for (const name in record) if (name !== names[index++]) return false;
  return index === names.length;
}

function isCount(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isNonEmptyString(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0;
}
