// The client's public class: every call's contract (its TSDoc and signature) is here; the longer
// calls' work is in the file of its concern (transport, server events, item logs, audit entries,
// blob uploads), and the views they answer in the *-views files.
import type { AuditEntry, BudgetSpec, CairnEvent, Digest, ItemLogLine, RunSpecV1 } from '@cairn/core';
import { readAuditEntries, type AuditEntryFilters } from './audit-entries.ts';
import { uploadBlob, uploadWorkspace } from './blob-uploads.ts';
import type { CheckedCairnClientSettings } from './cairn-client-settings.ts';
import { ClientTransport, itemPath, query } from './client-transport.ts';
import type { GraphEdgeView, GraphGroupView, GraphNodeView, RunGraphPageView, RunGraphView, RunTrajectoriesView } from './graph-views.ts';
import type { AttemptView, ItemView } from './item-views.ts';
import { followItemLogs } from './item-logs.ts';
import type { RunnerView, TokenView, WebhookDeliveryView, WebhookView } from './operator-views.ts';
import type { RunListFilters, RunPageView, RunTemplateView, RunView } from './run-views.ts';
import { followEvents, terminalRunStates } from './server-events.ts';

/**
 * The Cairn server's HTTP API as typed calls. Every error the server answers comes back as the
 * CairnError it was (code, message, path, issues); a server that cannot be reached is
 * CAIRN_SERVER_UNREACHABLE naming the URL. `events` is an async iterator that reconnects after a
 * dropped connection and resumes after the last event it yielded, and gives up after
 * `reconnectAttempts` failed reconnects in a row.
 */
export class CairnHttpClient {
  readonly #transport: ClientTransport;

  /**
   * Takes settings already checked (as `cairnClientSettingsSchema` outputs them): construct one
   * through `createCairnClient` (or `new CairnClient`) or `openCairnClient`, which check them.
   */
  constructor(settings: CheckedCairnClientSettings) {
    this.#transport = new ClientTransport(settings);
  }

  /**
   * Submits a run: a spec (`cairn.run/v1`, typed as `RunSpecV1` from `@cairn/core`), or its YAML or
   * JSON text; the same idempotency key returns the same run. With `workspace`, the run works on a
   * snapshot of that folder: the spec is checked here first (CAIRN_RUN_SPEC_* before anything is
   * uploaded), the folder uploaded as `uploadWorkspace` does (`history` commits of its repository
   * with it), and its digest set as
   * `workspace: { snapshot }` in place of the spec's own `workspace`.
   */
  async submit(
    spec: RunSpecV1 | string,
    options: { readonly idempotencyKey?: string; readonly workspace?: string; readonly history?: number } = {},
  ): Promise<{ runId: string; created: boolean; specDigest: Digest }> {
    if (options.workspace !== undefined) {
      const { assertRunSpec, loadRunSpec } = await import('@cairn/protocol');
      const checked = (typeof spec === 'string' ? loadRunSpec(spec) : assertRunSpec(spec)).spec;
      const { digest } = await this.uploadWorkspace(options.workspace, options.history === undefined ? {} : { history: options.history });
      spec = { ...checked, workspace: { snapshot: digest } };
    }
    const text = typeof spec === 'string';
    return this.#transport.json('POST', '/v1/runs', typeof spec === 'string' ? spec : JSON.stringify(spec), {
      'content-type': text ? 'application/yaml' : 'application/json',
      ...(options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}),
    });
  }

  /** The server's run templates (`templates:` in its config), and their parameters. */
  templates(): Promise<RunTemplateView[]> {
    return this.#transport.json('GET', '/v1/templates');
  }

  /**
   * Submits a run from a template, `parameters` filling its `{{ name }}` placeholders; each is put
   * into the parsed spec as a string value, so none can change the spec's structure. A spec the
   * values break is refused (CAIRN_RUN_SPEC_INVALID) naming the template and parameter.
   */
  submitTemplate(
    template: string,
    parameters: Readonly<Record<string, string>> = {},
    options: { readonly idempotencyKey?: string } = {},
  ): Promise<{ runId: string; created: boolean; specDigest: Digest }> {
    return this.#transport.json('POST', `/v1/templates/${encodeURIComponent(template)}/runs`, JSON.stringify({ parameters }), {
      'content-type': 'application/json',
      ...(options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}),
    });
  }

  run(runId: string): Promise<RunView> {
    return this.#transport.json('GET', `/v1/runs/${encodeURIComponent(runId)}`);
  }

  /**
   * One page of runs, newest first (`limit` 1 to 500, 50 by default), optionally filtered (see
   * `RunListFilters`); pass `nextCursor` back as `cursor`, with the same filters, for the next.
   */
  runs(options: RunListFilters & { readonly limit?: number; readonly cursor?: string } = {}): Promise<RunPageView> {
    return this.#transport.json('GET', `/v1/runs${query(options)}`);
  }

  /** Every run, newest first, page after page as the caller takes them (`limit` is the page size). */
  async *allRuns(options: RunListFilters & { readonly limit?: number } = {}): AsyncGenerator<RunView> {
    let cursor: string | undefined;
    do {
      const page = await this.runs({ ...options, ...(cursor === undefined ? {} : { cursor }) });
      yield* page.runs;
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  /**
   * Audit entries, in log order, read line by line from the server's NDJSON stream as the caller
   * takes them (the log is never held in memory here). Each line's `leafIndex` must be its
   * entry's `seq`; a line that is not is CAIRN_PAYLOAD_INVALID naming it.
   */
  async *auditEntries(filters: AuditEntryFilters = {}, options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<AuditEntry> {
    yield* readAuditEntries(this.#transport, filters, options);
  }

  items(runId: string): Promise<ItemView[]> {
    return this.#transport.json('GET', `/v1/runs/${encodeURIComponent(runId)}/items`);
  }

  /**
   * One page of a run's graph, by position (`limit` 1 to 10,000 nodes, 1,000 by default): its
   * nodes, their edges (each edge on one page: a dependency on its dependent's, a join on its
   * prerequisite's) and the groups of its nodes; pass `nextCursor` back as `cursor` for the next.
   * CAIRN_NOT_FOUND names an unknown run.
   */
  graphPage(runId: string, options: { readonly limit?: number; readonly cursor?: string } = {}): Promise<RunGraphPageView> {
    return this.#transport.json('GET', `/v1/runs/${encodeURIComponent(runId)}/graph${query(options)}`);
  }

  /**
   * A run's whole graph as it stands, the items it gained as it grew included: every page read
   * and put together, each group's items counted over all of them. Pages of 10,000 nodes unless
   * `limit` says: the server sorts a run's items for each page, so the fewest pages cost it least
   * (a 100,000-item run in 10). CAIRN_NOT_FOUND names an unknown run.
   */
  async graph(runId: string, options: { readonly limit?: number } = {}): Promise<RunGraphView> {
    const limit = options.limit ?? 10_000;
    const nodes: GraphNodeView[] = [];
    const edges: GraphEdgeView[] = [];
    const groups = new Map<string, GraphGroupView>();
    let cursor: string | undefined;
    do {
      const page = await this.graphPage(runId, { limit, ...(cursor === undefined ? {} : { cursor }) });
      nodes.push(...page.nodes);
      edges.push(...page.edges);
      for (const group of page.groups) groups.set(group.id, { ...group, items: (groups.get(group.id)?.items ?? 0) + group.items });
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return { runId, nodes, edges, groups: [...groups.values()] };
  }

  /** An item's attempts, first to last. CAIRN_NOT_FOUND names an unknown run or item (`path`). */
  attempts(runId: string, itemId: string): Promise<AttemptView[]> {
    return this.#transport.json('GET', `/v1/runs/${encodeURIComponent(runId)}/items/${encodeURIComponent(itemId)}/attempts`);
  }

  /**
   * An item's output: of its latest attempt, or `attempt`. Lines come as the server sends them;
   * with `follow`, until the attempt ends (waiting for the item's first attempt if needed), else
   * what there is now. The last line is `{ end }` once the attempt has ended (none while it runs
   * without `follow`). A stream cut mid-way is asked for again for the same attempt from the bytes
   * already yielded, so nothing comes twice and nothing is missed (`reconnectAttempts` failed
   * reconnects in a row end it with CAIRN_SERVER_UNREACHABLE). CAIRN_NOT_FOUND names an unknown
   * run, item or attempt (`path`); an error the server meets mid-stream is thrown as the CairnError
   * it reported.
   */
  async *logs(
    runId: string,
    itemId: string,
    options: { readonly attempt?: number; readonly follow?: boolean; readonly signal?: AbortSignal } = {},
  ): AsyncGenerator<ItemLogLine> {
    yield* followItemLogs(this.#transport, runId, itemId, options);
  }

  /** Cancels a run; `reason` is stored and audited with the cancellation. */
  cancel(runId: string, reason?: string): Promise<RunView> {
    return this.#withReason(`/v1/runs/${encodeURIComponent(runId)}/cancel`, reason);
  }

  /**
   * Gives a run a new budget: the limits in `budget` replace the run's (each must be more than it
   * has spent); `reason` is kept in the `run.budget-raised` audit entry. A run awaiting a raise
   * (`awaiting-budget`) runs again. Needs the `runs:budget` scope.
   */
  raiseBudget(runId: string, budget: BudgetSpec, reason: string): Promise<RunView> {
    return this.#transport.json('POST', `/v1/runs/${encodeURIComponent(runId)}/budget`, JSON.stringify({ budget, reason }), {
      'content-type': 'application/json',
    });
  }

  /** Cancels one item (a running one is stopped through its executor); `reason` is stored and audited. */
  cancelItem(runId: string, itemId: string, reason?: string): Promise<ItemView> {
    return this.#withReason(`${itemPath(runId, itemId)}/cancel`, reason);
  }

  /** Approves an item awaiting approval; `reason` is kept in the `item.approved` audit entry. */
  approve(runId: string, itemId: string, reason?: string): Promise<ItemView> {
    return this.#withReason(`${itemPath(runId, itemId)}/approve`, reason);
  }

  /** Rejects an item awaiting approval: it fails with `reason`. */
  reject(runId: string, itemId: string, reason?: string): Promise<ItemView> {
    return this.#withReason(`${itemPath(runId, itemId)}/reject`, reason);
  }

  #withReason<T>(path: string, reason: string | undefined): Promise<T> {
    return this.#transport.json('POST', path, JSON.stringify(reason === undefined ? {} : { reason }), { 'content-type': 'application/json' });
  }

  /** Stores bytes (a workspace snapshot) by their digest; returns the digest a run spec names (`workspace: { snapshot }`). */
  async uploadBlob(bytes: Uint8Array): Promise<Digest> {
    return uploadBlob(this.#transport, bytes);
  }

  /**
   * Snapshots a folder and uploads it; `digest` is what a run spec names (`workspace: { snapshot }`)
   * and `entries` how many files and symlinks it holds. Inside a git work tree the snapshot holds
   * the tracked and untracked files that are not ignored, elsewhere every file (see
   * `snapshotWorkspace` in `@cairn/protocol/workspace`). The snapshot is written to a temporary
   * file (readable by this user only, removed afterwards, on an error too) and hashed on the way,
   * never held in memory; the server is asked whether it holds that digest (`HEAD
   * /v1/blobs/{digest}`) and the file is streamed to it only when it does not, so submitting an
   * unchanged workspace again uploads nothing. The workspace's index (in `indexFolder`, by default
   * the user's cache folder; `false` for none) makes that cheap: an unchanged workspace is known
   * from its files' metadata, without reading them or writing a snapshot, and a changed one reads
   * only what changed to find that out (`prepareWorkspaceSnapshot`). Inside a git repository the snapshot also carries
   * its last `history` commits (50 by default; 0 for none), which become the history of the
   * workspace's own `.git` in each item. Throws CAIRN_PAYLOAD_INVALID naming the folder or
   * the file that cannot be snapshotted, before anything is uploaded; CAIRN_UPLOAD_TOO_LARGE
   * naming the folder and the snapshot's size when it is over the server's limit.
   */
  async uploadWorkspace(
    directory: string,
    options: { readonly history?: number; readonly indexFolder?: string | false } = {},
  ): Promise<{ digest: Digest; entries: number }> {
    return uploadWorkspace(this.#transport, directory, options);
  }

  /** A blob (a patch, a log, an attempt's signed dispatch manifest) by digest. */
  async blob(digest: Digest | string): Promise<Uint8Array> {
    return this.#transport.contentAddressed(`/v1/blobs/${digest}`);
  }

  /** A succeeded item's patch (`git diff --binary` text); CAIRN_NOT_FOUND when it changed nothing. */
  async patch(runId: string, itemId: string): Promise<string> {
    return new TextDecoder().decode(await this.#transport.contentAddressed(`/v1/runs/${encodeURIComponent(runId)}/items/${encodeURIComponent(itemId)}/patch`));
  }

  /**
   * A succeeded item's patch provenance: a Sigstore bundle holding the server's signed in-toto
   * statement (SLSA Provenance v1), as the bytes to verify offline; CAIRN_NOT_FOUND when it changed nothing.
   */
  async provenance(runId: string, itemId: string): Promise<Uint8Array> {
    return this.#transport.contentAddressed(`/v1/runs/${encodeURIComponent(runId)}/items/${encodeURIComponent(itemId)}/provenance`);
  }

  /** Cron schedules. */
  schedules(): Promise<Record<string, unknown>[]> {
    return this.#transport.json('GET', '/v1/schedules');
  }

  /**
   * Adds a schedule (`{ scheduleId, cron, timeZone?, spec, catchUp?, overlap? }`); instead of
   * `spec`, `template` (its name and parameters), filled and checked by the server now: every slot
   * submits that spec.
   */
  addSchedule(definition: {
    readonly scheduleId: string;
    readonly cron: string;
    readonly spec?: unknown;
    readonly template?: { readonly name: string; readonly parameters?: Readonly<Record<string, string>> };
    readonly timeZone?: string;
    readonly catchUp?: unknown;
    readonly overlap?: string;
  }): Promise<Record<string, unknown>> {
    return this.#transport.json('POST', '/v1/schedules', JSON.stringify(definition), { 'content-type': 'application/json' });
  }

  async removeSchedule(scheduleId: string): Promise<void> {
    await (await this.#transport.request('DELETE', `/v1/schedules/${encodeURIComponent(scheduleId)}`)).discard();
  }

  /** Secret names and versions; values are never read back. */
  secrets(): Promise<{ name: string; version: number; updatedAt: string; updatedBy: string }[]> {
    return this.#transport.json('GET', '/v1/secrets');
  }

  /** Sets a secret (write-only); returns its name and new version. */
  setSecret(name: string, value: string): Promise<{ name: string; version: number }> {
    return this.#transport.json('PUT', `/v1/secrets/${encodeURIComponent(name)}`, JSON.stringify({ value }), { 'content-type': 'application/json' });
  }

  async removeSecret(name: string): Promise<void> {
    await (await this.#transport.request('DELETE', `/v1/secrets/${encodeURIComponent(name)}`)).discard();
  }

  /** Webhook endpoints (admin), without their secrets. */
  webhooks(): Promise<WebhookView[]> {
    return this.#transport.json('GET', '/v1/webhooks');
  }

  /** Adds a webhook endpoint (admin); the answer's `secret` (whsec_...) is shown this once. */
  addWebhook(definition: {
    readonly url: string;
    readonly events?: readonly string[];
    readonly runId?: string;
    readonly description?: string;
  }): Promise<WebhookView & { readonly secret: string }> {
    return this.#transport.json('POST', '/v1/webhooks', JSON.stringify(definition), { 'content-type': 'application/json' });
  }

  async removeWebhook(webhookId: string): Promise<void> {
    await (await this.#transport.request('DELETE', `/v1/webhooks/${encodeURIComponent(webhookId)}`)).discard();
  }

  /** A webhook's latest deliveries: status, attempts, last status code or error, next attempt. */
  webhookDeliveries(webhookId: string): Promise<WebhookDeliveryView[]> {
    return this.#transport.json('GET', `/v1/webhooks/${encodeURIComponent(webhookId)}/deliveries`);
  }

  /** The runners that polled the server since it started (`admin`); CAIRN_NOT_FOUND when it has no runners enabled. */
  runners(): Promise<RunnerView[]> {
    return this.#transport.json('GET', '/v1/runners');
  }

  /**
   * Drains a runner (`admin`): it is given no new attempts, those it holds run to their end. `name`
   * is its runner name (`token:<id>`), its token's id, or its token's name when one runner's token
   * has that name. Lasts until `resumeRunner` or the server restarts.
   */
  drainRunner(name: string): Promise<RunnerView> {
    return this.#transport.json('POST', `/v1/runners/${encodeURIComponent(name)}/drain`);
  }

  /** Gives a drained runner attempts again (`admin`); `name` as `drainRunner`'s. */
  resumeRunner(name: string): Promise<RunnerView> {
    return this.#transport.json('POST', `/v1/runners/${encodeURIComponent(name)}/resume`);
  }

  /** Bearer tokens of the server (`admin`): never their secrets. */
  tokens(): Promise<TokenView[]> {
    return this.#transport.json('GET', '/v1/tokens');
  }

  /**
   * Makes a token (`admin`); `token` is its secret, in this answer only. `principal` names who it
   * belongs to (a person or a service); left out, it belongs to whoever makes it. An approval
   * policy counts one vote per principal.
   */
  createToken(name: string, scopes: readonly string[], options: { readonly principal?: string } = {}): Promise<{ token: string; record: TokenView }> {
    return this.#transport.json('POST', '/v1/tokens', JSON.stringify({ name, scopes, ...options }), { 'content-type': 'application/json' });
  }

  /**
   * Makes a one-time dashboard sign-in code (`admin`): the page at `/dashboard/#signin=<code>`
   * exchanges it, once and within 5 minutes, for a session token. The code is in this answer only.
   */
  createSignInCode(scopes?: readonly string[]): Promise<{ code: string; expiresAt: string; scopes: string[] }> {
    return this.#transport.json('POST', '/v1/session/links', JSON.stringify(scopes === undefined ? {} : { scopes }), { 'content-type': 'application/json' });
  }

  /** Revokes a token (`admin`): the server refuses it from its next request. */
  revokeToken(tokenId: string): Promise<TokenView> {
    return this.#transport.json('DELETE', `/v1/tokens/${encodeURIComponent(tokenId)}`);
  }

  /** A run's evidence bundle, as the bytes to verify offline. */
  async bundle(runId: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.#transport.request('GET', `/v1/runs/${encodeURIComponent(runId)}/bundle`)).arrayBuffer());
  }

  /**
   * A run's agent attempts (of one agent item with `item`) as ATIF trajectories, built by the
   * server from the run's recorded model calls (`audit:read`).
   */
  trajectories(runId: string, options: { readonly item?: string } = {}): Promise<RunTrajectoriesView> {
    const item = options.item === undefined ? '' : `&item=${encodeURIComponent(options.item)}`;
    return this.#transport.json('GET', `/v1/runs/${encodeURIComponent(runId)}/trajectories?format=atif${item}`);
  }

  /**
   * Events after `after` (all by default), of one run or all, as they happen; with `types`, only
   * events of those types (the server filters, so the others cost neither side anything). A dropped
   * connection is reopened with `Last-Event-ID`: nothing is missed, nothing repeats. Ends when
   * `signal` aborts; throws CAIRN_SERVER_UNREACHABLE once `reconnectAttempts` reconnects in a row
   * found no server.
   */
  async *events(
    options: { readonly runId?: string; readonly after?: number; readonly signal?: AbortSignal; readonly types?: readonly CairnEvent['type'][] } = {},
  ): AsyncGenerator<CairnEvent> {
    yield* followEvents(this.#transport, options);
  }

  /** Resolves with the run once it has ended, following its events; or, once `signal` aborts, with the run as it is then. */
  async waitForRun(
    runId: string,
    options: { readonly signal?: AbortSignal; readonly onEvent?: (event: CairnEvent) => void; readonly types?: readonly CairnEvent['type'][] } = {},
  ): Promise<RunView> {
    const run = await this.run(runId);
    if (terminalRunStates.has(run.state)) return run;
    const controller = new AbortController();
    // AbortSignal.any also holds a signal that was aborted before this call (an event listener would miss it).
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    // Without onEvent only the run's end matters: the server sends its run.state events and no
    // other (a 10,000-item run has about 50,000 events). With onEvent, `types` (default: every type).
    const types = options.onEvent === undefined ? (['run.state'] as const) : options.types;
    for await (const event of this.events({ runId, signal, ...(types === undefined ? {} : { types }) })) {
      options.onEvent?.(event);
      if (event.type === 'run.state' && terminalRunStates.has(event.state)) break;
    }
    controller.abort();
    return this.run(runId);
  }
}
