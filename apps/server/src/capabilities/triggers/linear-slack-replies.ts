import type { Logger } from '@cairn/core';
import type { EngineService, LeaderTask } from '@cairn/engine';
import { endedRunStates, RunEndFollower } from './run-end-follower.ts';
import { createLinearComment } from './linear-api.ts';
import { linearActor } from './linear-trigger.ts';
import type { SeenDeliveries } from './seen-deliveries.ts';
import { postSlackMessage } from './slack-api.ts';
import { slackActor } from './slack-trigger.ts';

/** Runs ended this long ago are not answered at start: the claims that say a reply was posted are kept a week. */
const sweepWindowMs = 6 * 24 * 3_600_000;

/** Where a reply goes, and the token to post it with, for each source configured. */
export interface ReplyDestinations {
  readonly linear?: { readonly apiUrl: string; readonly token: () => Promise<string> };
  readonly slack?: { readonly apiUrl: string; readonly token: () => Promise<string> };
}

/**
 * Replies where a Linear or Slack run came from when it ends: a comment on the Linear issue
 * (`linear.issue` of the run's labels), a Slack message in the mention's thread or the command's
 * channel (`slack.channel`, `slack.thread`), saying how the run ended, where it failed, and linking
 * the run and its evidence bundle. It follows the engine's run events on the replica that runs the
 * engine (as the review loop's replies do); each reply is claimed once (`reply:RUN` in the durable
 * store of seen deliveries, shared by the replicas) before it is posted, so it is posted at most
 * once — a post that fails is logged and not retried, rather than risk two. At start it answers the
 * runs of the last six days that ended while no server followed.
 */
export class LinearSlackReplies implements LeaderTask {
  readonly #service: EngineService;
  readonly #seen: SeenDeliveries;
  readonly #destinations: ReplyDestinations;
  readonly #publicUrl: string | undefined;
  readonly #logger: Logger | undefined;
  readonly #follower: RunEndFollower;

  constructor(options: {
    readonly service: EngineService;
    readonly seen: SeenDeliveries;
    readonly destinations: ReplyDestinations;
    readonly publicUrl?: string;
    readonly logger?: Logger;
  }) {
    this.#service = options.service;
    this.#seen = options.seen;
    this.#destinations = options.destinations;
    this.#publicUrl = options.publicUrl;
    this.#logger = options.logger;
    this.#follower = new RunEndFollower({
      service: options.service,
      sweep: () => this.#sweep(),
      onEnded: (runId) => this.#reply(runId),
      stoppedMessage: 'the Linear and Slack replies stopped following runs; they wait for the next start',
      logger: options.logger,
    });
  }

  start(): void {
    this.#follower.start();
  }

  stop(): Promise<void> {
    return this.#follower.stop();
  }

  /** The runs of the last six days a Linear or Slack request started and that ended while no server followed. */
  async #sweep(): Promise<void> {
    const since = new Date(Date.now() - sweepWindowMs).toISOString();
    for (const submitter of [linearActor.id, slackActor.id]) {
      const page = await this.#service.runs({ submitter, submittedAfter: since, limit: 500 });
      for (const run of page.runs) if (endedRunStates.has(run.state)) await this.#reply(run.runId);
    }
  }

  /** Posts the reply to `runId`'s source, once; a run no Linear or Slack request started is passed over. */
  async #reply(runId: string): Promise<void> {
    const [run, spec] = await Promise.all([this.#service.run(runId), this.#service.spec(runId)]);
    const labels: Readonly<Record<string, string>> = spec?.labels ?? {};
    const source = labels.trigger;
    if (run === undefined || (run.submittedBy !== linearActor.id && run.submittedBy !== slackActor.id)) return;
    if (source !== 'linear' && source !== 'slack') return;
    const destination = this.#destinations[source];
    if (destination === undefined) return;
    if (!(await this.#seen.claim(`reply:${runId}`))) return;
    try {
      const summary = await this.#summary(runId, run.state, run.name);
      if (source === 'linear') {
        await createLinearComment({ apiUrl: destination.apiUrl, token: await destination.token(), issueId: labels['linear.issue']!, body: summary.markdown });
      } else {
        await postSlackMessage({
          apiUrl: destination.apiUrl,
          token: await destination.token(),
          channel: labels['slack.channel']!,
          text: `<@${labels['slack.user']}> ${summary.slack}`,
          ...(labels['slack.thread'] === undefined ? {} : { threadTs: labels['slack.thread'] }),
        });
      }
    } catch (error) {
      // The claim is kept: a reply posted twice is worse than one a person can read on the run's page.
      this.#logger?.warn({ runId, source, error: String(error) }, `the reply to ${source} for a run could not be posted`);
    }
  }

  async #summary(runId: string, state: string, name: string): Promise<{ markdown: string; slack: string }> {
    const failed = (await this.#service.items(runId)).find((item) => item.state === 'failed');
    const where =
      failed === undefined
        ? ''
        : ` at item ${failed.itemId}${failed.failure ? ` (${failed.failure.code}: ${failed.failure.message.split('\n', 1)[0]!.slice(0, 300)})` : ''}`;
    const link = (path: string) => (this.#publicUrl === undefined ? path : `${this.#publicUrl.replace(/\/+$/, '')}${path}`);
    const run = link(`/v1/runs/${runId}`);
    const bundle = link(`/v1/runs/${runId}/bundle`);
    // Slack reads <, > and & as its own markup: the run's name and failure are text.
    const slackText = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
    return {
      markdown: `Cairn run [\`${runId}\`](${run}) (${name}) **${state}**${where}.\n\n- Evidence bundle: ${bundle}`,
      slack: `Cairn run <${run}|${runId}> (${slackText(name)}) *${state}*${slackText(where)}. Evidence bundle: ${bundle}`,
    };
  }
}
