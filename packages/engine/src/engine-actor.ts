import type { AuditActor } from '@cairn/core';

/** Cairn itself, as the actor of what the engine does on its own (readiness, dispatch, retries). */
export const engineActor: AuditActor = { kind: 'system', id: 'engine', via: 'engine' };
