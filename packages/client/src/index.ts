export { CairnClient, createCairnClient } from './cairn-client.ts';
export { cairnClientSettingsSchema } from './cairn-client-settings.ts';
// The errors a call throws, so a caller can test them without depending on @cairn/protocol itself.
export { CairnError, errorCodes, isCairnError } from '@cairn/protocol/errors';
export type { CairnErrorCode } from '@cairn/protocol/errors';
export type { CairnClientSettings } from './cairn-client-settings.ts';
export type {
  AttemptEnvironmentView,
  AttemptView,
  AuditEntryFilters,
  GraphEdgeView,
  GraphGroupView,
  GraphNodeView,
  GrowthReason,
  ItemApprovalView,
  ItemView,
  ItemDeliveryView,
  ItemCandidatesView,
  ModelSpendView,
  RunListFilters,
  RunGraphPageView,
  RunGraphView,
  RunPageView,
  RunnerView,
  RunTemplateView,
  RunTrajectoriesView,
  RunView,
  TokenView,
  WebhookDeliveryView,
  WebhookView,
} from './cairn-http-client.ts';
// The log lines client.logs() yields are the server's wire type, from @cairn/core.
export type { ItemLogEnd, ItemLogLine } from '@cairn/core';
export const VERSION = '0.1.0';
