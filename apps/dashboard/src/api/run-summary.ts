import type { components } from './openapi.d.ts';

/** A run as `GET /v1/runs` and `GET /v1/runs/:runId` answer it: the API's Run, generated from its OpenAPI document. */
export type RunSummary = components['schemas']['Run'];

/** An item as `GET /v1/runs/:runId/items` answers it: the API's Item (`readyAt`: the start of its queue wait). */
export type ItemSummary = components['schemas']['Item'];

/** A page of `GET /v1/runs`, newest first. */
export type RunPage = components['schemas']['RunPage'];
