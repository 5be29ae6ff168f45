import type { TaskTraceContext } from '@cairn/core';

/**
 * The trace context of an attempt's task, from its host's tracing (the server derives the attempt
 * span's id from the attempt, so it needs nothing else). Called on the dispatch's path: it must be
 * cheap and must not throw; undefined sends none.
 */
export type AttemptTraceContext = (attempt: { readonly runId: string; readonly itemId: string; readonly attempt: number }) => TaskTraceContext | undefined;
