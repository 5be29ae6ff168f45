import { createHmac } from 'node:crypto';

// Linear's Issue webhook payload, as its developer docs show one ("Webhooks": action, actor, data,
// type, url, updatedFrom, webhookTimestamp…) with the issue in `data` shaped as its schema's
// IssueWebhookPayload (every non-null field it declares, and those the trigger reads).
export const linearUserId = '9cfb482a-81e3-4154-b5b9-2c805e70a02d';
const labelBug = { id: '2d2b3e5d-7c8f-4a0e-9c9a-5f1e3c2d1a01', name: 'Bug', color: '#eb5757', parentId: null };
const labelCairn = { id: 'c41a5a2e-0f0b-4f5f-8d0c-7a3b6a1e9e02', name: 'cairn', color: '#5e6ad2', parentId: null };

/** The issue Linear's payloads below are about. */
export const linearIssue = {
  id: '6c7f1c1e-3f8a-4b7e-9d1a-2b0c4e5f6a7b',
  identifier: 'ENG-1778',
  title: 'Spelling error in the README file',
  description: "It looks like 'commit' is spelled with two 't's.",
  url: 'https://linear.app/cairn/issue/ENG-1778/spelling-error-in-the-readme-file',
};

/**
 * An `Issue` `update` (or `create`) delivery: the issue with `labels` (names of Bug and cairn) and
 * `assigneeId`, and in `updatedFrom` the label ids and assignee it had before (only what changed).
 */
export function issueEvent(options: {
  readonly action?: 'create' | 'update' | 'remove';
  readonly labels?: readonly ('Bug' | 'cairn')[];
  readonly previousLabels?: readonly ('Bug' | 'cairn')[];
  readonly assigneeId?: string | null;
  readonly previousAssigneeId?: string | null;
  readonly webhookTimestamp?: number;
  readonly title?: string;
}) {
  const byName = { Bug: labelBug, cairn: labelCairn };
  const labels = (options.labels ?? ['Bug']).map((name) => byName[name]);
  const updatedFrom: Record<string, unknown> = { updatedAt: '2026-11-28T09:59:12.000Z' };
  if (options.previousLabels !== undefined) updatedFrom.labelIds = options.previousLabels.map((name) => byName[name].id);
  if (options.previousAssigneeId !== undefined) updatedFrom.assigneeId = options.previousAssigneeId;
  const assignee = options.assigneeId ?? null;
  return {
    action: options.action ?? 'update',
    actor: { id: linearUserId, type: 'user', name: 'Ada Lovelace', email: 'ada@example.com', url: 'https://linear.app/cairn/profiles/ada' },
    createdAt: '2026-11-28T10:00:00.000Z',
    data: {
      ...linearIssue,
      ...(options.title === undefined ? {} : { title: options.title }),
      number: 1778,
      createdAt: '2026-11-27T16:20:00.000Z',
      updatedAt: '2026-11-28T10:00:00.000Z',
      labelIds: labels.map((label) => label.id),
      labels,
      assigneeId: assignee,
      assignee: assignee === null ? null : { id: assignee, name: 'Ada Lovelace', email: 'ada@example.com', url: 'https://linear.app/cairn/profiles/ada' },
      previousIdentifiers: [],
      priority: 2,
      priorityLabel: 'High',
      prioritySortOrder: -1778,
      reactionData: {},
      sortOrder: -1778,
      state: { id: 'a1f0e9d8-c7b6-4a59-8e7d-6c5b4a392817', name: 'Todo', color: '#e2e2e2', type: 'unstarted' },
      stateId: 'a1f0e9d8-c7b6-4a59-8e7d-6c5b4a392817',
      subscriberIds: [linearUserId],
      teamId: '4e1c3d2b-5a6f-4789-9abc-def012345678',
    },
    type: 'Issue',
    url: linearIssue.url,
    updatedFrom,
    organizationId: 'f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9',
    webhookId: '0d1c2b3a-4f5e-4d6c-8b7a-918273645546',
    webhookTimestamp: options.webhookTimestamp ?? Date.now(),
  };
}

/** The request Linear sends for `payload`: the JSON body, `Linear-Delivery`, `Linear-Event` and `Linear-Signature` (the hex HMAC-SHA256 of the exact body). */
export function linearDelivery(payload: unknown, options: { readonly secret: string; readonly deliveryId?: string; readonly unsigned?: boolean }) {
  const body = JSON.stringify(payload);
  return {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Linear-Webhook',
      'linear-delivery': options.deliveryId ?? crypto.randomUUID(),
      'linear-event': 'Issue',
      ...(options.unsigned ? {} : { 'linear-signature': createHmac('sha256', options.secret).update(body).digest('hex') }),
    },
  } satisfies RequestInit;
}
