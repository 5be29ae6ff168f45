import { createHash } from 'node:crypto';

/**
 * The span id of an attempt's first span, derived from the attempt alone: the gateway's model-call
 * spans, and the spans an agent CLI emits in the sandbox (through `TRACEPARENT`), name it as their
 * parent without waiting for the tracer, which reads the engine's events later, to have opened it.
 */
export function attemptSpanId(runId: string, itemId: string, attempt: number): string {
  return createHash('sha256').update(`cairn.attempt\0${runId}\0${itemId}\0${attempt}`).digest('hex').slice(0, 16);
}
