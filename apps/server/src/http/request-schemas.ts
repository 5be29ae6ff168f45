import { z } from 'zod';

/** The path of a route under a run: `/v1/runs/:runId/...`. */
export const runParams = z.strictObject({ runId: z.string().min(1).max(200) });

/** The path of a route under an item: `/v1/runs/:runId/items/:itemId/...`. */
export const itemParams = z.strictObject({ runId: z.string().min(1).max(200), itemId: z.string().min(1).max(128) });

/** Why a person cancelled, approved or rejected: stored and audited with what they did. */
export const reasonBody = z.strictObject({ reason: z.string().min(1).max(2_000).optional() }).nullish();
