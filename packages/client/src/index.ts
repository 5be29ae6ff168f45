export { CairnClient, createCairnClient } from './cairn-client.ts';
export { cairnClientSettingsSchema } from './cairn-client-settings.ts';
// The errors a call throws, so a caller can test them without depending on @cairn/protocol itself.
export { CairnError, errorCodes, isCairnError } from '@cairn/protocol/errors';
export type { CairnErrorCode } from '@cairn/protocol/errors';
export type { CairnClientSettings } from './cairn-client-settings.ts';
export type { AuditEntryFilters } from './audit-entries.ts';
export type { GraphEdgeView, GraphGroupView, GraphNodeView, GrowthReason, RunGraphPageView, RunGraphView, RunTrajectoriesView } from './graph-views.ts';
export type { AttemptEnvironmentView, AttemptView, ItemApprovalView, ItemCandidatesView, ItemDeliveryView, ItemView } from './item-views.ts';
export type { RunnerView, TokenView, WebhookDeliveryView, WebhookView } from './operator-views.ts';
export type { ModelSpendView, RunListFilters, RunPageView, RunTemplateView, RunView } from './run-views.ts';
// The log lines client.logs() yields are the server's wire type, from @cairn/core.
export type { ItemLogEnd, ItemLogLine } from '@cairn/core';
export const VERSION = '0.1.0';
