import type { components } from './openapi.d.ts';

/**
 * A run as `GET /v1/runs` and `GET /v1/runs/:runId` answer it: the API's Run, generated from its
 * OpenAPI document. `submittedBy` is sent (the run's record passes through) but the document does
 * not declare it, so it is named here as the one field the dashboard reads beyond the document.
 */
export type RunSummary = components['schemas']['Run'] & { readonly submittedBy?: string };

/**
 * An item as `GET /v1/runs/:runId/items` answers it: the API's Item. `readyAt` (when it became
 * ready: the start of its queue wait) is sent but not declared by the document, as above.
 */
export type ItemSummary = components['schemas']['Item'] & { readonly readyAt?: string | null };

/** A page of `GET /v1/runs`, newest first. */
export type RunPage = components['schemas']['RunPage'];
