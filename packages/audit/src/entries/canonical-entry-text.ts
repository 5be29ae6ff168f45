import type { AuditEntry } from '@cairn/core';
import { canonicalJson, stringifiesCanonically } from '@cairn/protocol';

// An entry's members in code-unit order, with and without the run it belongs to.
const membersWithRun = ['action', 'actor', 'data', 'entity', 'outcome', 'runId', 'runSeq', 'seq', 'time'];
const membersWithoutRun = ['action', 'actor', 'data', 'entity', 'outcome', 'seq', 'time'];
const actorMembers = ['id', 'kind', 'via'];
const entityMembers = ['id', 'kind'];

/**
 * The canonical JSON of an audit entry that `auditEntryProblem` accepts, for a verifier reading a
 * million of them. Entries parsed from a bundle's canonical text already hold their members in
 * canonical order, so one JSON.stringify writes the text; proving that costs a look at the fixed
 * members (their values are from fixed ASCII sets, whole numbers and an ISO time, which
 * `auditEntryProblem` checked) and a walk over `data` only, where `canonicalJson` walks every
 * member and tests every name. Anything else — members in another order, a lone surrogate in an
 * id, an object that is not plain — goes to `canonicalJson`, which sorts or refuses it as always.
 */
export function canonicalEntryText(entry: AuditEntry): string {
  return stringifiesAsIs(entry) ? JSON.stringify(entry) : canonicalJson(entry);
}

function stringifiesAsIs(entry: AuditEntry): boolean {
  const { actor, entity, runId } = entry;
  return (
    isPlain(entry) &&
    hasMembersInOrder(entry, runId === undefined ? membersWithoutRun : membersWithRun) &&
    isPlain(actor) &&
    hasMembersInOrder(actor, actorMembers) &&
    isPlain(entity) &&
    hasMembersInOrder(entity, entityMembers) &&
    actor.id.isWellFormed() &&
    entity.id.isWellFormed() &&
    (runId === undefined || runId.isWellFormed()) &&
    stringifiesCanonically(entry.data)
  );
}

// A class instance (or an inherited toJSON) would be written differently by JSON.stringify;
// canonicalJson refuses it.
function isPlain(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

// for…in rather than Object.keys: no array per object (three objects an entry, a million entries).
// It lists the own enumerable names first, in Object.keys' order, then any enumerable one
// inherited; an inherited one (a polluted Object.prototype) makes the count differ, and the
// entry goes to canonicalJson, as any entry this does not accept does.
function hasMembersInOrder(value: object, names: readonly string[]): boolean {
  let index = 0;
  for (const name in value) {
    if (name !== names[index]) return false;
    index++;
  }
  return index === names.length;
}
