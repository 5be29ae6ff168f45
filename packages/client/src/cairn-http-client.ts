import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  AttemptFailure,
  AttemptState,
  AuditAction,
  AuditEntry,
  BudgetSpec,
  CairnEvent,
  Digest,
  ItemLogLine,
  ItemState,
  LogStream,
  ModelCallSpend,
  RunSpecV1,
  RunState,
} from '@cairn/core';
// The errors alone at import (no schema, no YAML parser): a command that only reads a run starts
// light; the run-spec checks `submit` needs are imported when it runs.
import { CairnError, errorCodes, isCairnError, type CairnErrorCode } from '@cairn/protocol/errors';
import { postFile } from './post-file.ts';
import type { HttpAnswer } from './http-answer.ts';
import { httpRequest } from './http-request.ts';
import { builtin } from './builtin-module.ts';
import type { EventSourceMessage } from 'eventsource-parser';
import type { CheckedCairnClientSettings } from './cairn-client-settings.ts';

/** A run as the server reports it. */
export interface RunView {
  readonly runId: string;
  readonly name: string;
  readonly state: RunState;
  readonly specDigest: string;
  /** The Idempotency-Key it was submitted with, if any. */
  readonly idempotencyKey: string | null;
  /** The id of the actor who submitted it (a token, a person, a schedule). */
  readonly submittedBy: string;
  readonly submittedAt: string;
  readonly finishedAt: string | null;
  readonly itemsTotal: number;
  readonly itemsFinished: number;
  readonly itemsFailed: number;
  /** `runs()` only: how many of its items succeeded, and how many of those reused a pure result. */
  readonly itemsSucceeded?: number;
  readonly itemsReused?: number;
  /** Its dispatch priority, 1 (lowest) to 5 (highest), which its items inherit. Absent from servers older than this field. */
  readonly priority?: number;
  /** From `run(runId)` when items failed: each failed item with why it failed. */
  readonly failedItems?: readonly { readonly itemId: string; readonly failure: AttemptFailure | null }[];
  /** From `run(runId)` when its agents called models through the gateway: what the run and each item spent. */
  readonly spend?: { readonly total: ModelSpendView; readonly items: Readonly<Record<string, ModelSpendView>> };
  /** `run(runId)` only, when the run has one: its budget now (the last it was raised to, else its spec's). */
  readonly budget?: BudgetSpec;
  /**
   * `run(runId)` only, when its workspace was fetched from a repository at submit: the repository
   * and ref its spec named, the commit the ref named then (what its items ran on) and the snapshot stored.
   */
  readonly workspace?: { readonly repository: string; readonly ref: string; readonly commit: string; readonly snapshot: string };
  readonly [field: string]: unknown;
}

/** What model calls spent, as the server's model gateway metered them (its `model.called` entries). */
export type ModelSpendView = ModelCallSpend;

/** An item's approval (ADR 0041): its policy, who voted, and how many approvals it still waits for (0 once it no longer waits). */
export interface ItemApprovalView {
  readonly required: number;
  /** The roles or groups an approver needs one of; absent when anyone allowed to approve counts. */
  readonly from?: readonly string[];
  readonly selfApproval: boolean;
  readonly timeout?: string;
  readonly onTimeout: 'reject' | 'approve';
  /** The votes cast under a policy, first to last (`approval: required` records none). */
  readonly votes: readonly {
    readonly actor: string;
    /** Whom the vote counts for: one vote per principal (absent from servers older than this field). */
    readonly principal?: string;
    readonly decision: 'approve' | 'reject';
    readonly at: string;
    readonly reason?: string;
  }[];
  /** Approvals dropped while it waits because their principal's access was revoked or expired after they voted: each with why. */
  readonly lapsed?: readonly { readonly principal: string; readonly votedAt: string; readonly message: string }[];
  readonly approvals: number;
  readonly needed: number;
}

/** An item as the server reports it. */
export interface ItemView {
  readonly itemId: string;
  readonly state: ItemState;
  /**
   * Why its latest attempt failed (code, message, exit code, signal, refusal rule, the end of its
   * stderr, redacted), or why it could not be dispatched; null while nothing failed and once it
   * succeeded. Absent from servers older than this field.
   */
  readonly failure?: AttemptFailure | null;
  /** When it waits or waited for approval: its policy, the votes so far and how many approvals it still needs. */
  readonly approval?: ItemApprovalView;
  /** Its dispatch priority, 1 (lowest) to 5 (highest): its own, else its run's. Absent from servers older than this field. */
  readonly priority?: number;
  /** `items(runId)` only, once a deliver item succeeded: what it delivered. */
  readonly delivery?: ItemDeliveryView;
  /** `items(runId)` only, for a best-of-N item once it ran: its candidates side by side with their checks, and the winner (ADR 0053). */
  readonly candidates?: ItemCandidatesView;
  /** `items(runId)` only, for an item with a warm environment once an attempt ended: the environment that attempt ran over (ADR 0056). */
  readonly environment?: AttemptEnvironmentView & { readonly attempt: number };
  readonly [field: string]: unknown;
}

/**
 * The warm environment an attempt ran over (ADR 0056): its digest, whether the attempt built it or
 * reused a layer built before, the setup's time, and the digests of its log and (behind an
 * allow-list) egress record, which `blob(digest)` reads.
 */
export interface AttemptEnvironmentView {
  readonly digest: string;
  readonly built: boolean;
  readonly setupMs: number;
  readonly log: string;
  readonly egress?: string;
}

/**
 * A best-of-N item's candidates (ADR 0053): how the winner is chosen, each candidate that ended
 * (its round, attempt, outcome, whether it passed, its check's exit code and score, its patch's
 * size), and the winner's attempt with why it won (null until a round has one).
 */
export interface ItemCandidatesView {
  readonly count: number;
  readonly order: 'score' | 'smallest-diff' | 'first';
  readonly stopOnFirstPass: boolean;
  readonly checked: readonly {
    readonly candidate: number;
    readonly attempt: number;
    readonly round: number;
    readonly outcome: string;
    readonly passed: boolean;
    readonly exitCode: number | null;
    readonly score: number | null;
    readonly patchBytes: number;
  }[];
  readonly winner: number | null;
  readonly reason: string | null;
  /** Who chose the winner (ADR 0053): its judge or the order; null until a round has one. Absent from servers without judges. */
  readonly decidedBy?: 'judge' | 'order' | null;
  /** The judge of the last judged round: the attempt it chose and why, or why its answer was refused (the order then decided). */
  readonly judge?: { readonly attempt: number | null; readonly reason: string | null; readonly refused: string | null } | null;
}

/**
 * What a deliver item delivered: the forge, the item whose patch it was, the branch and its base,
 * the commit the branch points at, whether this delivery pushed it (`pushed`) or found it there
 * (`unchanged`), the change request it opened or updated, and the digest of the patch's stored
 * provenance bundle (`blob(digest)`; the commit's `Cairn-Evidence` trailer); the paths of the
 * patch its forge protects (its CI configuration) when it touched any, and the run whose branch it
 * took over (`runtime.takeOver`) when it did.
 */
export interface ItemDeliveryView {
  readonly forge: string;
  readonly from: string;
  readonly branch: string;
  readonly base: string;
  readonly commit: string;
  readonly outcome: 'pushed' | 'unchanged';
  readonly changeRequest?: { readonly id: string; readonly url: string };
  readonly provenance: { readonly digest: string };
  readonly protectedPaths?: readonly string[];
  readonly tookOverFrom?: string;
}

/** How an item adds items to its run (ADR 0034): a planner's fragment, a `forEach` item's instances, a merge's re-runs. */
export type GrowthReason = 'planner' | 'forEach' | 'rerun';

/** An item of a run's graph. */
export interface GraphNodeView {
  readonly itemId: string;
  /** Its place in the run: the spec's items first, then each added item in the order it was added. */
  readonly position: number;
  readonly state: ItemState;
  readonly kind: 'command' | 'agent' | 'merge' | 'deliver';
  /** The item that added it to the run (a planner, a `forEach` item, a merge), when one did. */
  readonly group?: string;
  /** How it adds items to the run, when it does. */
  readonly grows?: GrowthReason;
}

/**
 * `to` waits on `from`: a `dependency` its spec names, or a `join` the run gained as it grew (a
 * fragment's last items for what depended on their planner, a `forEach` item's instances for what
 * depended on it, a re-run for its merge).
 */
export interface GraphEdgeView {
  readonly from: string;
  readonly to: string;
  readonly kind: 'dependency' | 'join';
}

/** The items one item added to the run: `items` of them (on a page: of the page's nodes). */
export interface GraphGroupView {
  readonly id: string;
  readonly reason: GrowthReason;
  readonly items: number;
}

/** A run's graph: its items by position, how they wait on each other, and which item added which. */
export interface RunGraphView {
  readonly runId: string;
  readonly nodes: readonly GraphNodeView[];
  readonly edges: readonly GraphEdgeView[];
  readonly groups: readonly GraphGroupView[];
}

/**
 * A run's agent attempts as ATIF trajectories (`trajectories`): one document per attempt, in item
 * then attempt order, each with the sha256 of its canonical JSON (RFC 8785).
 */
export interface RunTrajectoriesView {
  readonly runId: string;
  readonly format: 'atif';
  /** The ATIF version of every document (`ATIF-v1.4`). */
  readonly schemaVersion: string;
  readonly trajectories: readonly {
    readonly itemId: string;
    readonly attempt: number;
    readonly digest: Digest;
    /** The ATIF document; its `session_id` is the attempt id. */
    readonly trajectory: Record<string, unknown>;
  }[];
}

/** A page of a run's graph (`graphPage`): its nodes, their edges and groups; `nextCursor` reads the next. */
export interface RunGraphPageView extends RunGraphView {
  readonly nextCursor?: string;
}

/** One attempt of an item as the server reports it. */
export interface AttemptView {
  readonly itemId: string;
  /** Its number: 1 for the first. */
  readonly attempt: number;
  readonly state: AttemptState;
  /** The digest of its signed dispatch manifest (a DSSE envelope); `blob(manifestDigest)` reads its exact bytes. */
  readonly manifestDigest: string;
  /** The runtime's exit code once it ended; null when it was killed, never started or was lost. */
  readonly exitCode: number | null;
  readonly dispatchedAt: string;
  readonly finishedAt: string | null;
  /** Why it did not succeed, once it ended without success; null while live and when it succeeded. */
  readonly failure: AttemptFailure | null;
  /** Over a warm environment, once it ended with a result: which one, built or reused (ADR 0056). */
  readonly environment?: AttemptEnvironmentView;
  readonly [field: string]: unknown;
}

/** A bearer token as the server lists it: never its secret. */
export interface TokenView {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly createdAt: string;
  readonly revokedAt?: string;
  /** Who it belongs to (a person or a service; `token:<id>` for a token made before principals were recorded). */
  readonly principal?: string;
}

/** One page of the run history, newest first; `nextCursor` is there when more may follow. */
export interface RunPageView {
  readonly runs: readonly RunView[];
  readonly nextCursor?: string;
}

/** Which audit entries to read: a seq range (`from` inclusive, `to` exclusive), a run, an action, an actor id, a time range (`since` inclusive, `until` exclusive). */
export interface AuditEntryFilters {
  readonly from?: number;
  readonly to?: number;
  readonly runId?: string;
  readonly action?: AuditAction;
  readonly actor?: string;
  readonly since?: string;
  readonly until?: string;
}

/** A run template of the server's config: a run spec with `{{ name }}` placeholders, and its parameters (all strings). */
export interface RunTemplateView {
  readonly name: string;
  readonly description?: string;
  readonly parameters: readonly { readonly name: string; readonly required: boolean; readonly default?: string; readonly description?: string }[];
}

/** A webhook endpoint as the server lists it (never its secret). */
export interface WebhookView {
  readonly webhookId: string;
  readonly url: string;
  /** The event types it receives; `null`: every type. */
  readonly events: readonly string[] | null;
  readonly runId: string | null;
  readonly description: string | null;
  readonly createdAt: string;
  readonly createdBy: string;
  /** Set when the receiver answered 410 Gone. */
  readonly disabledAt: string | null;
  readonly disabledReason: string | null;
}

/** One event on its way to one webhook endpoint. */
export interface WebhookDeliveryView {
  /** The `webhook-id` header, the same on every attempt. */
  readonly deliveryId: string;
  readonly webhookId: string;
  readonly eventId: number;
  readonly eventType: string;
  readonly status: 'pending' | 'succeeded' | 'failed';
  readonly attempts: number;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly nextAttemptAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A runner that polled the server since it started (ADR 0050), as `GET /v1/runners` lists it. */
export interface RunnerView {
  /** Its token's actor, `token:<id>`. */
  readonly name: string;
  /** The name its token was made with (`cairn token create --name`); null when the token is not listed. */
  readonly tokenName: string | null;
  readonly tokenRevoked: boolean;
  readonly version: string;
  readonly labels: readonly string[];
  /** Attempts it could start, as of its last poll (0 while it drains). */
  readonly slots: number;
  /** Attempts it holds now. */
  readonly held: number;
  readonly lastSeen: string;
  /** `connected`: waiting in a poll or polled within the lease time; `lost`: not, and its attempts were recorded lost. */
  readonly state: 'connected' | 'lost';
  /** Drained: given no new attempts until resumed. */
  readonly draining: boolean;
}

const terminal = new Set<RunState>(['succeeded', 'failed', 'cancelled']);

/**
 * The Cairn server's HTTP API as typed calls. Every error the server answers comes back as the
 * CairnError it was (code, message, path, issues); a server that cannot be reached is
 * CAIRN_SERVER_UNREACHABLE naming the URL. `events` is an async iterator that reconnects after a
 * dropped connection and resumes after the last event it yielded, and gives up after
 * `reconnectAttempts` failed reconnects in a row.
 */
export class CairnHttpClient {
  readonly #settings: CheckedCairnClientSettings;

  /**
   * Takes settings already checked (as `cairnClientSettingsSchema` outputs them): construct one
   * through `createCairnClient` (or `new CairnClient`) or `openCairnClient`, which check them.
   */
  constructor(settings: CheckedCairnClientSettings) {
    this.#settings = settings;
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
    return this.#json('POST', '/v1/runs', typeof spec === 'string' ? spec : JSON.stringify(spec), {
      'content-type': text ? 'application/yaml' : 'application/json',
      ...(options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}),
    });
  }

  /** The server's run templates (`templates:` in its config), and their parameters. */
  templates(): Promise<RunTemplateView[]> {
    return this.#json('GET', '/v1/templates');
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
    return this.#json('POST', `/v1/templates/${encodeURIComponent(template)}/runs`, JSON.stringify({ parameters }), {
      'content-type': 'application/json',
      ...(options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {}),
    });
  }

  run(runId: string): Promise<RunView> {
    return this.#json('GET', `/v1/runs/${encodeURIComponent(runId)}`);
  }

  /**
   * One page of runs, newest first (`limit` 1 to 500, 50 by default), optionally filtered (see
   * `RunListFilters`); pass `nextCursor` back as `cursor`, with the same filters, for the next.
   */
  runs(options: RunListFilters & { readonly limit?: number; readonly cursor?: string } = {}): Promise<RunPageView> {
    return this.#json('GET', `/v1/runs${query(options)}`);
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
    const response = await this.#request('GET', `/v1/audit${query(filters)}`, undefined, {}, options.signal);
    let lineNumber = 0;
    const entryOf = (line: string): AuditEntry => {
      lineNumber++;
      let value: { entry?: AuditEntry; leafIndex?: unknown };
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new CairnError('CAIRN_PAYLOAD_INVALID', `Line ${lineNumber} of the audit export is not JSON.`, { path: `line ${lineNumber}`, cause: error });
      }
      if (typeof value?.entry !== 'object' || value.entry === null || value.leafIndex !== value.entry.seq) {
        throw new CairnError(
          'CAIRN_PAYLOAD_INVALID',
          `Line ${lineNumber} of the audit export is not {"entry":{...},"leafIndex":n} with leafIndex equal to the entry's seq.`,
          { path: `line ${lineNumber}` },
        );
      }
      return value.entry;
    };
    // NDJSON: a line per entry; the last may end the body without a newline.
    for await (const line of textRecords(response.body, '\n', { trailing: true })) if (line !== '') yield entryOf(line);
  }

  items(runId: string): Promise<ItemView[]> {
    return this.#json('GET', `/v1/runs/${encodeURIComponent(runId)}/items`);
  }

  /**
   * One page of a run's graph, by position (`limit` 1 to 10,000 nodes, 1,000 by default): its
   * nodes, their edges (each edge on one page: a dependency on its dependent's, a join on its
   * prerequisite's) and the groups of its nodes; pass `nextCursor` back as `cursor` for the next.
   * CAIRN_NOT_FOUND names an unknown run.
   */
  graphPage(runId: string, options: { readonly limit?: number; readonly cursor?: string } = {}): Promise<RunGraphPageView> {
    return this.#json('GET', `/v1/runs/${encodeURIComponent(runId)}/graph${query(options)}`);
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
    return this.#json('GET', `/v1/runs/${encodeURIComponent(runId)}/items/${encodeURIComponent(itemId)}/attempts`);
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
    let attempt = options.attempt;
    const received: Record<LogStream, number> = { stdout: 0, stderr: 0 };
    const noticed = new Set<LogStream>();
    const encoder = new TextEncoder();
    let failedConnects = 0;
    for (;;) {
      let response: HttpAnswer;
      try {
        const parameters = query({
          attempt,
          follow: options.follow ? 'true' : undefined,
          stdoutFrom: received.stdout || undefined,
          stderrFrom: received.stderr || undefined,
        });
        response = await this.#request('GET', `${this.#itemPath(runId, itemId)}/logs${parameters}`, undefined, {}, options.signal);
      } catch (error) {
        // Only a reconnect is retried: the first request's failure is the caller's to see.
        if (attempt === undefined || !isCairnError(error, 'CAIRN_SERVER_UNREACHABLE') || options.signal?.aborted) throw error;
        failedConnects += 1;
        if (failedConnects > this.#settings.reconnectAttempts) {
          throw new CairnError('CAIRN_SERVER_UNREACHABLE', `${error.message} (gave up following the log after ${failedConnects} attempts in a row)`, {
            path: 'baseUrl',
            cause: error,
          });
        }
        await delay(this.#settings.reconnectDelayMs);
        continue;
      }
      failedConnects = 0;
      // The attempt the server chose (the latest, when none was named): a reconnect asks for the same one.
      attempt ??= Number(response.headers.get('x-cairn-attempt'));
      try {
        // Empty lines are the server's keep-alives.
        for await (const text of textRecords(response.body, '\n', { trailing: true })) {
          if (text === '') continue;
          const line = JSON.parse(text) as ItemLogLine | { error: { code: string; message: string } };
          if ('error' in line) {
            const code = (errorCodes as readonly string[]).includes(line.error.code) ? (line.error.code as CairnErrorCode) : 'CAIRN_INTERNAL';
            throw new CairnError(code, line.error.message);
          }
          if ('stream' in line) {
            // A notice is said once, however often the stream is resumed; it is not bytes of the stream.
            if (line.notice) {
              if (noticed.has(line.stream)) continue;
              noticed.add(line.stream);
            } else received[line.stream] += encoder.encode(line.text).byteLength;
          }
          yield line;
        }
        return;
      } catch (error) {
        // A stream cut mid-body is reopened where it got to; an error the server reported is not.
        if (isCairnError(error) || options.signal?.aborted) throw error;
      }
      await delay(this.#settings.reconnectDelayMs);
    }
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
    return this.#json('POST', `/v1/runs/${encodeURIComponent(runId)}/budget`, JSON.stringify({ budget, reason }), { 'content-type': 'application/json' });
  }

  /** Cancels one item (a running one is stopped through its executor); `reason` is stored and audited. */
  cancelItem(runId: string, itemId: string, reason?: string): Promise<ItemView> {
    return this.#withReason(`${this.#itemPath(runId, itemId)}/cancel`, reason);
  }

  /** Approves an item awaiting approval; `reason` is kept in the `item.approved` audit entry. */
  approve(runId: string, itemId: string, reason?: string): Promise<ItemView> {
    return this.#withReason(`${this.#itemPath(runId, itemId)}/approve`, reason);
  }

  /** Rejects an item awaiting approval: it fails with `reason`. */
  reject(runId: string, itemId: string, reason?: string): Promise<ItemView> {
    return this.#withReason(`${this.#itemPath(runId, itemId)}/reject`, reason);
  }

  #itemPath(runId: string, itemId: string): string {
    return `/v1/runs/${encodeURIComponent(runId)}/items/${encodeURIComponent(itemId)}`;
  }

  #withReason<T>(path: string, reason: string | undefined): Promise<T> {
    return this.#json('POST', path, JSON.stringify(reason === undefined ? {} : { reason }), { 'content-type': 'application/json' });
  }

  /** Stores bytes (a workspace snapshot) by their digest; returns the digest a run spec names (`workspace: { snapshot }`). */
  async uploadBlob(bytes: Uint8Array): Promise<Digest> {
    const { createHash } = await builtin('node:crypto');
    return (
      await this.#json<{ digest: Digest }>('POST', '/v1/blobs', bytes, {
        'content-type': 'application/octet-stream',
        'x-cairn-digest': `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      })
    ).digest;
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
    // Snapshot code loads when a workspace is uploaded, not with every client.
    const { defaultHistoryDepth, prepareWorkspaceSnapshot } = await import('@cairn/protocol/workspace');
    const { mkdtemp, rm } = await builtin('node:fs/promises');
    const prepared = await prepareWorkspaceSnapshot(directory, {
      history: options.history ?? defaultHistoryDepth,
      ...(options.indexFolder === undefined ? {} : { indexFolder: options.indexFolder }),
    });
    // Unchanged since a snapshot the server holds: nothing to write, nothing to send.
    if (prepared.known !== undefined && (await this.#holdsBlob(prepared.known.digest)))
      return { digest: prepared.known.digest, entries: prepared.known.entries };
    const folder = await mkdtemp(join(tmpdir(), 'cairn-upload-'));
    try {
      const file = join(folder, 'snapshot.tar');
      const snapshot = await prepared.write(createWriteStream(file, { flags: 'wx', mode: 0o600 }));
      if (await this.#holdsBlob(snapshot.digest)) return { digest: snapshot.digest, entries: snapshot.entries };
      try {
        const stored = await this.#postFile('/v1/blobs', file, {
          'content-type': 'application/octet-stream',
          'content-length': String(snapshot.bytes),
          'x-cairn-digest': snapshot.digest,
        });
        return { digest: (stored as { digest: Digest }).digest, entries: snapshot.entries };
      } catch (error) {
        // The server knows its limit; only the client knows which folder made a snapshot that large.
        if (!isCairnError(error, 'CAIRN_UPLOAD_TOO_LARGE')) throw error;
        throw new CairnError(
          'CAIRN_UPLOAD_TOO_LARGE',
          `The workspace ${directory} makes a snapshot of ${snapshot.bytes} bytes (${snapshot.entries} files and symlinks), over the server's upload limit: ${error.message}`,
          { path: 'workspace', details: { workspace: directory, bytes: snapshot.bytes, ...error.details }, cause: error },
        );
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }

  /** POSTs a file, streamed (see `postFile`), and returns the JSON answer; errors as `#request` reports them. */
  async #postFile(path: string, file: string, headers: Record<string, string>): Promise<unknown> {
    const url = `${this.#settings.baseUrl.replace(/\/$/, '')}${path}`;
    let answer: { status: number; text: string };
    try {
      answer = await postFile(url, file, { ...(this.#settings.token ? { authorization: `Bearer ${this.#settings.token}` } : {}), ...headers });
    } catch (error) {
      throw unreachable(url, error);
    }
    const parsed = (() => {
      try {
        return JSON.parse(answer.text) as unknown;
      } catch {
        return {};
      }
    })();
    if (answer.status >= 200 && answer.status < 300) return parsed;
    throw answerError('POST', url, answer.status, parsed as ErrorAnswer);
  }

  /**
   * Whether the server holds the blob `digest`. Only a yes skips an upload: a server that cannot
   * say (an older one, a token that may not ask) is uploaded to, as before.
   */
  async #holdsBlob(digest: Digest): Promise<boolean> {
    try {
      await (await this.#request('HEAD', `/v1/blobs/${digest}`)).discard();
      return true;
    } catch (error) {
      if (isCairnError(error, 'CAIRN_SERVER_UNREACHABLE')) throw error;
      return false;
    }
  }

  /** A blob (a patch, a log, an attempt's signed dispatch manifest) by digest. */
  async blob(digest: Digest | string): Promise<Uint8Array> {
    return this.#contentAddressed(`/v1/blobs/${digest}`);
  }

  /** A succeeded item's patch (`git diff --binary` text); CAIRN_NOT_FOUND when it changed nothing. */
  async patch(runId: string, itemId: string): Promise<string> {
    return new TextDecoder().decode(await this.#contentAddressed(`/v1/runs/${encodeURIComponent(runId)}/items/${encodeURIComponent(itemId)}/patch`));
  }

  /**
   * A succeeded item's patch provenance: a Sigstore bundle holding the server's signed in-toto
   * statement (SLSA Provenance v1), as the bytes to verify offline; CAIRN_NOT_FOUND when it changed nothing.
   */
  async provenance(runId: string, itemId: string): Promise<Uint8Array> {
    return this.#contentAddressed(`/v1/runs/${encodeURIComponent(runId)}/items/${encodeURIComponent(itemId)}/provenance`);
  }

  /** Cron schedules. */
  schedules(): Promise<Record<string, unknown>[]> {
    return this.#json('GET', '/v1/schedules');
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
    return this.#json('POST', '/v1/schedules', JSON.stringify(definition), { 'content-type': 'application/json' });
  }

  async removeSchedule(scheduleId: string): Promise<void> {
    await (await this.#request('DELETE', `/v1/schedules/${encodeURIComponent(scheduleId)}`)).discard();
  }

  /** Secret names and versions; values are never read back. */
  secrets(): Promise<{ name: string; version: number; updatedAt: string; updatedBy: string }[]> {
    return this.#json('GET', '/v1/secrets');
  }

  /** Sets a secret (write-only); returns its name and new version. */
  setSecret(name: string, value: string): Promise<{ name: string; version: number }> {
    return this.#json('PUT', `/v1/secrets/${encodeURIComponent(name)}`, JSON.stringify({ value }), { 'content-type': 'application/json' });
  }

  async removeSecret(name: string): Promise<void> {
    await (await this.#request('DELETE', `/v1/secrets/${encodeURIComponent(name)}`)).discard();
  }

  /** Webhook endpoints (admin), without their secrets. */
  webhooks(): Promise<WebhookView[]> {
    return this.#json('GET', '/v1/webhooks');
  }

  /** Adds a webhook endpoint (admin); the answer's `secret` (whsec_...) is shown this once. */
  addWebhook(definition: {
    readonly url: string;
    readonly events?: readonly string[];
    readonly runId?: string;
    readonly description?: string;
  }): Promise<WebhookView & { readonly secret: string }> {
    return this.#json('POST', '/v1/webhooks', JSON.stringify(definition), { 'content-type': 'application/json' });
  }

  async removeWebhook(webhookId: string): Promise<void> {
    await (await this.#request('DELETE', `/v1/webhooks/${encodeURIComponent(webhookId)}`)).discard();
  }

  /** A webhook's latest deliveries: status, attempts, last status code or error, next attempt. */
  webhookDeliveries(webhookId: string): Promise<WebhookDeliveryView[]> {
    return this.#json('GET', `/v1/webhooks/${encodeURIComponent(webhookId)}/deliveries`);
  }

  /** The runners that polled the server since it started (`admin`); CAIRN_NOT_FOUND when it has no runners enabled. */
  runners(): Promise<RunnerView[]> {
    return this.#json('GET', '/v1/runners');
  }

  /**
   * Drains a runner (`admin`): it is given no new attempts, those it holds run to their end. `name`
   * is its runner name (`token:<id>`), its token's id, or its token's name when one runner's token
   * has that name. Lasts until `resumeRunner` or the server restarts.
   */
  drainRunner(name: string): Promise<RunnerView> {
    return this.#json('POST', `/v1/runners/${encodeURIComponent(name)}/drain`);
  }

  /** Gives a drained runner attempts again (`admin`); `name` as `drainRunner`'s. */
  resumeRunner(name: string): Promise<RunnerView> {
    return this.#json('POST', `/v1/runners/${encodeURIComponent(name)}/resume`);
  }

  /** Bearer tokens of the server (`admin`): never their secrets. */
  tokens(): Promise<TokenView[]> {
    return this.#json('GET', '/v1/tokens');
  }

  /**
   * Makes a token (`admin`); `token` is its secret, in this answer only. `principal` names who it
   * belongs to (a person or a service); left out, it belongs to whoever makes it. An approval
   * policy counts one vote per principal.
   */
  createToken(name: string, scopes: readonly string[], options: { readonly principal?: string } = {}): Promise<{ token: string; record: TokenView }> {
    return this.#json('POST', '/v1/tokens', JSON.stringify({ name, scopes, ...options }), { 'content-type': 'application/json' });
  }

  /**
   * Makes a one-time dashboard sign-in code (`admin`): the page at `/dashboard/#signin=<code>`
   * exchanges it, once and within 5 minutes, for a session token. The code is in this answer only.
   */
  createSignInCode(scopes?: readonly string[]): Promise<{ code: string; expiresAt: string; scopes: string[] }> {
    return this.#json('POST', '/v1/session/links', JSON.stringify(scopes === undefined ? {} : { scopes }), { 'content-type': 'application/json' });
  }

  /** Revokes a token (`admin`): the server refuses it from its next request. */
  revokeToken(tokenId: string): Promise<TokenView> {
    return this.#json('DELETE', `/v1/tokens/${encodeURIComponent(tokenId)}`);
  }

  /** A run's evidence bundle, as the bytes to verify offline. */
  async bundle(runId: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.#request('GET', `/v1/runs/${encodeURIComponent(runId)}/bundle`)).arrayBuffer());
  }

  /**
   * A run's agent attempts (of one agent item with `item`) as ATIF trajectories, built by the
   * server from the run's recorded model calls (`audit:read`).
   */
  trajectories(runId: string, options: { readonly item?: string } = {}): Promise<RunTrajectoriesView> {
    const item = options.item === undefined ? '' : `&item=${encodeURIComponent(options.item)}`;
    return this.#json('GET', `/v1/runs/${encodeURIComponent(runId)}/trajectories?format=atif${item}`);
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
    let last = options.after ?? -1;
    const wanted = options.types === undefined ? undefined : new Set<string>(options.types);
    // A run's stream is asked for its run.state events too, whatever `types` says: its terminal
    // one is how this loop knows the run, and so the stream, ended (it is yielded only if asked for).
    const asked = wanted === undefined ? undefined : options.runId === undefined ? [...wanted] : [...new Set([...wanted, 'run.state'])];
    const stream = options.runId === undefined ? '/v1/events' : `/v1/runs/${encodeURIComponent(options.runId)}/events`;
    const path = asked === undefined ? stream : `${stream}?types=${asked.join(',')}`;
    let failedConnects = 0;
    let reconnectDelayMs = this.#settings.reconnectDelayMs;
    while (!options.signal?.aborted) {
      try {
        let response: HttpAnswer;
        try {
          response = await this.#request('GET', path, undefined, { 'last-event-id': String(last) }, options.signal);
        } catch (error) {
          if (!isCairnError(error, 'CAIRN_SERVER_UNREACHABLE') || options.signal?.aborted) throw error;
          failedConnects += 1;
          if (failedConnects > this.#settings.reconnectAttempts) {
            throw new CairnError('CAIRN_SERVER_UNREACHABLE', `${error.message} (gave up following events after ${failedConnects} attempts in a row)`, {
              path: 'baseUrl',
              cause: error,
            });
          }
          await delay(reconnectDelayMs);
          continue;
        }
        failedConnects = 0;
        // A spec-compliant parser (CR, LF or CRLF lines, multi-line data, comments, retry): an event
        // cut off by a dropped connection is never emitted, and comes again after the reconnect,
        // which resumes after the last one yielded.
        for await (const message of await serverSentEvents(response.body, (retry) => (reconnectDelayMs = Math.min(retry, maxReconnectDelayMs)))) {
          const event = eventOf(message, path);
          last = event.id;
          // A server older than `types` sends every event: the ones not asked for are dropped here.
          if (wanted === undefined || wanted.has(event.type)) yield event;
          // A run's stream ends with the run: nothing follows its terminal state.
          if (options.runId !== undefined && event.type === 'run.state' && terminal.has(event.state)) return;
        }
      } catch (error) {
        if (options.signal?.aborted) return;
        // A stream cut mid-body is reopened; an answer the server gave (401, 404, ...) is not.
        if (isCairnError(error) && error.code !== 'CAIRN_INTERNAL') throw error;
      }
      await delay(reconnectDelayMs);
    }
  }

  /** Resolves with the run once it has ended, following its events; or, once `signal` aborts, with the run as it is then. */
  async waitForRun(
    runId: string,
    options: { readonly signal?: AbortSignal; readonly onEvent?: (event: CairnEvent) => void; readonly types?: readonly CairnEvent['type'][] } = {},
  ): Promise<RunView> {
    const run = await this.run(runId);
    if (terminal.has(run.state)) return run;
    const controller = new AbortController();
    // AbortSignal.any also holds a signal that was aborted before this call (an event listener would miss it).
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    // Without onEvent only the run's end matters: the server sends its run.state events and no
    // other (a 10,000-item run has about 50,000 events). With onEvent, `types` (default: every type).
    const types = options.onEvent === undefined ? (['run.state'] as const) : options.types;
    for await (const event of this.events({ runId, signal, ...(types === undefined ? {} : { types }) })) {
      options.onEvent?.(event);
      if (event.type === 'run.state' && terminal.has(event.state)) break;
    }
    controller.abort();
    return this.run(runId);
  }

  /**
   * The bytes of a content-addressed answer (it names its digest in `x-cairn-digest`), checked
   * against that digest here too. A body cut off mid-way is asked for once more: a server that
   * found the stored bytes altered while streaming them answers the second request with the
   * CAIRN_DIGEST_MISMATCH it is; a second cut is CAIRN_SERVER_UNREACHABLE.
   */
  async #contentAddressed(path: string, retried = false): Promise<Uint8Array> {
    const response = await this.#request('GET', path);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      if (!retried) return this.#contentAddressed(path, true);
      throw new CairnError('CAIRN_SERVER_UNREACHABLE', `The answer to GET ${path} was cut off twice before its end: ${(error as Error).message}.`, {
        path: 'baseUrl',
        cause: error,
      });
    }
    const digest = response.headers.get('x-cairn-digest');
    if (digest !== null) {
      const actual = `sha256:${Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
      if (actual !== digest)
        throw new CairnError(
          'CAIRN_DIGEST_MISMATCH',
          `GET ${path} answered bytes that hash to ${actual}, not ${digest}: they were altered on the way or in storage.`,
          { details: { expected: digest, actual } },
        );
    }
    return bytes;
  }

  async #json<T>(method: string, path: string, body?: RequestBody, headers: Record<string, string> = {}): Promise<T> {
    return (await (await this.#request(method, path, body, headers)).json()) as T;
  }

  /**
   * One call: its answer when the server answers 2xx; the CairnError it answers otherwise; CAIRN_SERVER_UNREACHABLE
   * when it cannot be reached. The caller reads the answer's body, or discards it.
   */
  async #request(method: string, path: string, body?: RequestBody, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<HttpAnswer> {
    const url = `${this.#settings.baseUrl.replace(/\/$/, '')}${path}`;
    let response: HttpAnswer;
    try {
      response = await httpRequest(url, {
        method,
        headers: { ...(this.#settings.token ? { authorization: `Bearer ${this.#settings.token}` } : {}), ...headers },
        ...(body === undefined ? {} : { body }),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw unreachable(url, (error as Error & { cause?: unknown }).cause ?? error, error);
    }
    if (response.ok) return response;
    throw answerError(method, url, response.status, (await response.json().catch(() => ({}))) as ErrorAnswer);
  }
}

/** The body of a Cairn error answer. */
interface ErrorAnswer {
  readonly code?: string;
  readonly message?: string;
  readonly action?: string;
  readonly path?: string;
  readonly issues?: { path: string; message: string }[];
}

/** CAIRN_SERVER_UNREACHABLE naming the URL, and why (`reason`: the system error under the failure). */
function unreachable(url: string, reason: unknown, cause: unknown = reason): CairnError {
  const { code, message } = (reason ?? {}) as { code?: string; message?: string };
  return new CairnError(
    'CAIRN_SERVER_UNREACHABLE',
    `Cannot reach the Cairn server at ${url}: ${code ?? message ?? (cause as Error | undefined)?.message}. Is \`cairn serve\` running there?`,
    {
      path: 'baseUrl',
      details: { url },
      cause,
    },
  );
}

/** The CairnError a server's error answer reports: its code (CAIRN_INTERNAL when unknown), message, path, advice and issues. */
function answerError(method: string, url: string, status: number, answer: ErrorAnswer): CairnError {
  const code = (errorCodes as readonly string[]).includes(answer.code ?? '') ? (answer.code as CairnErrorCode) : 'CAIRN_INTERNAL';
  return new CairnError(code, answer.message ?? `${method} ${url} answered ${status}.`, {
    ...(answer.path === undefined ? {} : { path: answer.path }),
    // The server's advice for this very error, which may say more than the catalogue's for its code.
    ...(typeof answer.action === 'string' ? { action: answer.action } : {}),
    ...(answer.issues ? { issues: answer.issues.map((issue) => ({ code, ...issue })) } : {}),
  });
}

/** What a request sends. */
type RequestBody = string | Uint8Array;

/**
 * The text records of a response body, split on `separator` as its bytes arrive; with `trailing`,
 * what follows the last separator is a record too (otherwise it is an unfinished one, dropped).
 */
async function* textRecords(body: AsyncIterable<Uint8Array>, separator: string, options: { readonly trailing: boolean }): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf(separator); end >= 0; end = buffer.indexOf(separator)) {
      yield buffer.slice(0, end);
      buffer = buffer.slice(end + separator.length);
    }
  }
  buffer += decoder.decode();
  if (options.trailing && buffer !== '') yield buffer;
}

/** A Cairn event from its server-sent message; a message that is not one is the server's fault, said so. */
function eventOf(message: EventSourceMessage, path: string): CairnEvent {
  let value: { id?: unknown; type?: unknown } | null;
  try {
    value = JSON.parse(message.data);
  } catch (error) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `An event from ${path} (id ${JSON.stringify(message.id)}) has data that is not JSON; is this a Cairn server?`,
      { path, cause: error },
    );
  }
  if (typeof value?.id !== 'number' || typeof value.type !== 'string') {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `An event from ${path} (id ${JSON.stringify(message.id)}) is not a Cairn event {id, type, ...}; is this a Cairn server?`,
      { path },
    );
  }
  return value as CairnEvent;
}

/**
 * The server-sent events of a response body, parsed as the WHATWG spec says. The parser (and the
 * web streams it extends) loads with the first stream, not with every client: a `cairn` command
 * that reads one run starts without it.
 */
async function serverSentEvents(body: AsyncIterable<Uint8Array>, onRetry: (retry: number) => void): Promise<AsyncIterable<EventSourceMessage>> {
  const { EventSourceParserStream } = await import('eventsource-parser/stream');
  // maxBufferSize: one event is a few hundred bytes; a stream that never ends a line is not SSE.
  const parser = new EventSourceParserStream({ onRetry, maxBufferSize: 1 << 20 });
  return ReadableStream.from(body).pipeThrough(new TextDecoderStream()).pipeThrough(parser) as unknown as AsyncIterable<EventSourceMessage>;
}

// A server may ask for a slower reconnect (`retry:`); not for one slower than this.
const maxReconnectDelayMs = 30_000;

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Which runs a run list keeps; every filter narrows, an absent one keeps everything. */
export interface RunListFilters {
  readonly state?: RunState;
  /** Exactly this run name. */
  readonly name?: string;
  /** Runs submitted by this actor id (as a run's `submittedBy` shows it). */
  readonly submitter?: string;
  /** Submitted at or after this RFC 3339 time (inclusive). */
  readonly submittedAfter?: string;
  /** Submitted before this RFC 3339 time (exclusive). */
  readonly submittedBefore?: string;
}

/** `?name=value&...` of the options that are set ('' when none is). */
function query(options: object): string {
  const parameters = new URLSearchParams();
  for (const [name, value] of Object.entries(options) as [string, unknown][]) if (value !== undefined) parameters.set(name, String(value));
  const text = parameters.toString();
  return text === '' ? '' : `?${text}`;
}
