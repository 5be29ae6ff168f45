import type { EngineObserver, EngineService, ModelCall } from '@cairn/engine';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunnerExecutor } from '@cairn/runner';
import type { LogSinkHealth } from '../logging/log-sink-health.ts';
import { VERSION } from '../version.ts';

/**
 * The server's Prometheus metrics: runs and items by state, queue depth, live attempts and
 * anchoring lag read from the engine at each scrape; dispatch latency, attempt outcomes and
 * durations, and anchor failures as the engine reports them (`observer`); HTTP requests by route,
 * method and status; `cairn_build_info`; and prom-client's process and Node.js metrics under their
 * standard names (`process_*`, `nodejs_*`), unprefixed, because that is what the usual Node.js
 * dashboards and alerts query. One registry per server, so two servers in one process never mix
 * their numbers (the process metrics of both describe the same process).
 */
export class ServerMetrics {
  readonly registry = new Registry();
  /** Give it to the engine: it hears attempts start and end, and anchors fail. */
  readonly observer: EngineObserver;
  readonly #http: Histogram<'route' | 'method' | 'status'>;
  readonly #refusedBrowserRequests: Counter<'reason'>;
  readonly #modelCalls: Counter<'provider' | 'model' | 'outcome'>;
  readonly #modelTokens: Counter<'provider' | 'model' | 'kind'>;
  readonly #modelCost: Counter<'provider' | 'model'>;
  readonly #sandboxClaimSeconds: Histogram<'pool'>;
  readonly #sandboxClaims: Counter<'pool' | 'launch'>;
  #service: Pick<EngineService, 'metrics'> | undefined;
  #logSink: LogSinkHealth | undefined;
  #runners: Pick<RunnerExecutor, 'runners'> | undefined;

  constructor() {
    const registry = this.registry;
    const dispatch = new Histogram({
      name: 'cairn_dispatch_latency_seconds',
      help: 'From an item becoming ready to its attempt starting',
      labelNames: ['executor'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300],
      registers: [registry],
    });
    const ended = new Counter({
      name: 'cairn_attempts_ended_total',
      help: 'Attempts that ended, by outcome',
      labelNames: ['executor', 'outcome'],
      registers: [registry],
    });
    // Attempts run from milliseconds (a cached pure item) to hours (a long build).
    const durations = new Histogram({
      name: 'cairn_attempt_duration_seconds',
      help: "From an attempt's dispatch to its end, by executor and outcome",
      labelNames: ['executor', 'outcome'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14_400],
      registers: [registry],
    });
    const anchorFailures = new Counter({
      name: 'cairn_anchor_failures_total',
      help: 'Checkpoint anchorings that failed (each is retried)',
      registers: [registry],
    });
    // Counted, not audited: any page can send them, and the log would be the page's to fill.
    this.#refusedBrowserRequests = new Counter({
      name: 'cairn_http_browser_requests_refused_total',
      help: 'Requests refused before authentication: a Host the server does not answer to (host) or a page of another origin (origin)',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.#http = new Histogram({
      name: 'cairn_http_request_duration_seconds',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10],
      registers: [registry],
    });
    // The model gateway's calls (ADR 0033), by the model the agent asked for: what dashboards of
    // spend and of provider load read, beside the run-by-run figures of the audit log.
    this.#modelCalls = new Counter({
      name: 'cairn_model_calls_total',
      help: 'Model calls through the gateway, by provider, model and outcome (success, failure, denied)',
      labelNames: ['provider', 'model', 'outcome'],
      registers: [registry],
    });
    this.#modelTokens = new Counter({
      name: 'cairn_model_tokens_total',
      help: 'Tokens of the model calls through the gateway, as the providers reported them, by kind (input, output, cache_read, cache_write)',
      labelNames: ['provider', 'model', 'kind'],
      registers: [registry],
    });
    this.#modelCost = new Counter({
      name: 'cairn_model_cost_usd_total',
      help: 'US dollars of the model calls through the gateway, by the price table (calls of unknown cost add nothing)',
      labelNames: ['provider', 'model'],
      registers: [registry],
    });
    // The Kubernetes executor's agent-sandbox claims (ADR 0051): how long a claim waits to be bound,
    // and whether the pool had a warm sandbox for it (a cold one starts its pod after the claim).
    this.#sandboxClaimSeconds = new Histogram({
      name: 'cairn_kubernetes_sandbox_claim_seconds',
      help: "From a SandboxClaim's creation to its sandbox being ready with the attempt, by warm pool",
      labelNames: ['pool'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
      registers: [registry],
    });
    this.#sandboxClaims = new Counter({
      name: 'cairn_kubernetes_sandbox_claims_total',
      help: 'SandboxClaims bound, by warm pool and launch (warm: a sandbox the pool had ready; cold: one started for the claim)',
      labelNames: ['pool', 'launch'],
      registers: [registry],
    });
    // Warm environments (ADR 0056): how often an attempt found its layer built (a hit) or ran the
    // setup (a miss), and the seconds the setups took, so the reuse a cache gives shows.
    const environments = new Counter({
      name: 'cairn_environment_attempts_total',
      help: 'Attempts over a warm environment, by executor and cache (hit: the layer was there; miss: the attempt ran the setup)',
      labelNames: ['executor', 'cache'],
      registers: [registry],
    });
    const setupSeconds = new Counter({
      name: 'cairn_environment_setup_seconds_total',
      help: 'Seconds the warm environments’ setups took, by executor (counted by the attempt that ran each)',
      labelNames: ['executor'],
      registers: [registry],
    });
    this.observer = {
      attemptStarted: (event) => dispatch.observe({ executor: event.executor }, event.waitMs / 1000),
      attemptEnded: (event) => {
        ended.inc({ executor: event.executor, outcome: event.outcome });
        durations.observe({ executor: event.executor, outcome: event.outcome }, event.durationMs / 1000);
        if (event.environment) {
          environments.inc({ executor: event.executor, cache: event.environment.built ? 'miss' : 'hit' });
          if (event.environment.built) setupSeconds.inc({ executor: event.executor }, event.environment.setupMs / 1000);
        }
      },
      anchorFailed: () => anchorFailures.inc(),
    };
    // The info-metric pattern: constant 1, the facts in labels, so a query can join on them.
    new Gauge({
      name: 'cairn_build_info',
      help: "The running server's version and Node.js version (always 1)",
      labelNames: ['version', 'node'],
      registers: [registry],
    }).set({ version: VERSION, node: process.version }, 1);
    collectDefaultMetrics({ register: registry });
    const read = async () => this.#service?.metrics();
    new Gauge({
      name: 'cairn_runs',
      help: 'Runs by state',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        for (const [state, count] of Object.entries((await read())?.runs ?? {})) this.set({ state }, count);
      },
    });
    new Gauge({
      name: 'cairn_items',
      help: 'Items by state',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        for (const [state, count] of Object.entries((await read())?.items ?? {})) this.set({ state }, count);
      },
    });
    const single = (name: string, help: string, value: (metrics: NonNullable<Awaited<ReturnType<typeof read>>>) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          const metrics = await read();
          if (metrics) this.set(value(metrics));
        },
      });
    single('cairn_queue_depth', 'Items ready or waiting out a retry', (metrics) => metrics.readyItems);
    single('cairn_live_attempts', 'Attempts dispatched and not yet ended', (metrics) => metrics.liveAttempts);
    single('cairn_audit_entries', 'Entries in the audit log', (metrics) => metrics.auditEntries);
    single('cairn_checkpoint_lag_entries', 'Audit entries no anchored checkpoint covers yet', (metrics) => metrics.unanchoredEntries);
    single('cairn_checkpoints_pending', 'Checkpoints waiting to be anchored', (metrics) => metrics.pendingCheckpoints);
    // Read from the sink at each scrape: it counts as it drops, and must not depend on a registry.
    const logSink = () => this.#logSink?.status();
    new Counter({
      name: 'cairn_log_lines_dropped_total',
      help: 'Log lines dropped because the log could not be written (e.g. its disk is full)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(logSink()?.droppedLines ?? 0);
      },
    });
    // Runners (ADR 0050), read from the lease book at each scrape; zeros on a server without them.
    const runners = () => this.#runners?.runners() ?? [];
    new Gauge({
      name: 'cairn_runners',
      help: 'Runners that polled since the server started, by state: connected (polled within the lease time) or lost',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const listed = runners();
        for (const state of ['connected', 'lost'] as const) this.set({ state }, listed.filter((runner) => runner.state === state).length);
      },
    });
    new Gauge({
      name: 'cairn_runner_attempts_held',
      help: 'Attempts the runners hold now (leased, heartbeated by their polls)',
      registers: [registry],
      collect() {
        this.set(runners().reduce((sum, runner) => sum + runner.held, 0));
      },
    });
    new Gauge({
      name: 'cairn_log_sink_failing',
      help: 'Whether the last log line could not be written (1) or was written (0)',
      registers: [registry],
      collect() {
        this.set(logSink()?.ok === false ? 1 : 0);
      },
    });
  }

  /** The engine whose state the gauges read, through its service (it is built after its observer). */
  watch(service: Pick<EngineService, 'metrics'>): void {
    this.#service = service;
  }

  /** The runners' lease book (ADR 0050), whose runners and held attempts the gauges count. */
  watchRunners(book: Pick<RunnerExecutor, 'runners'>): void {
    this.#runners = book;
  }

  /** The sink the server's log is written to, whose dropped lines the metrics report. */
  watchLogSink(health: LogSinkHealth): void {
    this.#logSink = health;
  }

  /** Counts one model call the gateway recorded. */
  observeModelCall(call: ModelCall): void {
    const { provider, model } = call;
    this.#modelCalls.inc({ provider, model, outcome: call.outcome });
    for (const [kind, tokens] of [
      ['input', call.inputTokens],
      ['output', call.outputTokens],
      ['cache_read', call.cacheReadTokens],
      ['cache_write', call.cacheWriteTokens],
    ] as const)
      if (tokens !== undefined && tokens > 0) this.#modelTokens.inc({ provider, model, kind }, tokens);
    if (call.costUsd !== undefined && call.costUsd > 0) this.#modelCost.inc({ provider, model }, call.costUsd);
  }

  /** A request refused for its Host (`host`, DNS rebinding) or its origin (`origin`, another page). */
  refusedBrowserRequest(reason: 'host' | 'origin'): void {
    this.#refusedBrowserRequests.inc({ reason });
  }

  /** A SandboxClaim of the Kubernetes executor bound: its latency and whether it was a warm hit. */
  observeSandboxClaim(claim: { readonly warmPool: string; readonly launch: 'warm' | 'cold'; readonly seconds: number }): void {
    this.#sandboxClaimSeconds.observe({ pool: claim.warmPool }, claim.seconds);
    this.#sandboxClaims.inc({ pool: claim.warmPool, launch: claim.launch });
  }

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    this.#http.observe({ route, method, status: String(status) }, seconds);
  }
}
