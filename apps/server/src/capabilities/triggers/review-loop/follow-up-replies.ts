import type { Logger, StorageProviderV1 } from '@cairn/core';
import type { EngineService, LeaderTask } from '@cairn/engine';
import { dollars } from '@cairn/protocol/format';
import { RunSpend } from '../../gateway/model-spend.ts';
import { runDeliveries } from '../../delivery/item-delivery.ts';
import type { ReviewForge, FollowUpDetail } from './review-loop.ts';
import type { FollowUpRecord, ReviewLoopStore } from './review-loop-store.ts';
import { endedRunStates, RunEndFollower } from '../run-end-follower.ts';

/**
 * Replies on the pull request when a follow-up run ends (ADR 0052): what it answered, whether it
 * pushed (the commit) or why not — a branch moved since it started (`CAIRN_FORGE_CONFLICT`) is said
 * plainly, nothing having been overwritten — links to the run and its evidence bundle, and its
 * spend. It follows the engine's run events on the replica that runs the engine; each reply is
 * claimed once in the loop's store, and at start it answers the follow-ups that ended while no
 * server followed.
 */
export class FollowUpReplies implements LeaderTask {
  readonly #store: ReviewLoopStore;
  readonly #service: EngineService;
  readonly #storage: StorageProviderV1;
  readonly #forge: () => Promise<ReviewForge>;
  readonly #publicUrl: string | undefined;
  readonly #logger: Logger | undefined;
  readonly #follower: RunEndFollower;

  constructor(options: {
    readonly store: ReviewLoopStore;
    readonly service: EngineService;
    readonly storage: StorageProviderV1;
    readonly forge: () => Promise<ReviewForge>;
    readonly publicUrl?: string;
    readonly logger?: Logger;
  }) {
    this.#store = options.store;
    this.#service = options.service;
    this.#storage = options.storage;
    this.#forge = options.forge;
    this.#publicUrl = options.publicUrl;
    this.#logger = options.logger;
    this.#follower = new RunEndFollower({
      service: options.service,
      sweep: () => this.#sweep(),
      onEnded: (runId) => this.#reply(runId),
      stoppedMessage: 'the review loop stopped following runs; replies wait for the next start',
      logger: options.logger,
    });
  }

  start(): void {
    this.#follower.start();
  }

  stop(): Promise<void> {
    return this.#follower.stop();
  }

  /** The follow-ups that ended while no server followed. */
  async #sweep(): Promise<void> {
    for (const followUp of await this.#store.unreplied()) {
      const run = await this.#service.run(followUp.runId!);
      if (run !== undefined && endedRunStates.has(run.state)) await this.#reply(followUp.runId!);
    }
  }

  /** Posts the reply to the follow-up that started `runId`, once; a run no follow-up started is passed over. */
  async #reply(runId: string): Promise<void> {
    const followUp = await this.#store.claimReply(runId, Date.now());
    if (followUp === undefined) return;
    try {
      const forge = await this.#forge();
      await forge.commentOnChangeRequest(String(followUp.pullNumber), await this.#replyText(followUp));
    } catch (error) {
      // The claim is kept: a reply posted twice is worse than one a person can read on the run's page.
      this.#logger?.warn({ runId, error: String(error) }, 'the reply to a follow-up could not be posted');
    }
  }

  async #replyText(followUp: FollowUpRecord): Promise<string> {
    const runId = followUp.runId!;
    const detail = JSON.parse(followUp.detail) as FollowUpDetail;
    const [run, items, spend] = await Promise.all([
      this.#service.run(runId),
      this.#service.items(runId),
      RunSpend.read(this.#service.auditEntries({ runId, action: 'model.called' })),
    ]);
    const deliveries = await runDeliveries(
      this.#service,
      this.#storage,
      runId,
      items.filter((item) => item.state === 'succeeded').map((item) => item.itemId),
    );
    const link = (path: string) => (this.#publicUrl === undefined ? path : `${this.#publicUrl.replace(/\/+$/, '')}${path}`);
    const delivery = [...deliveries.values()][0];
    const conflict = items.find((item) => item.failure?.code === 'CAIRN_FORGE_CONFLICT');
    const failed = items.find((item) => item.state === 'failed');
    const total = spend.run;
    const spent =
      total.calls === 0
        ? 'no model calls'
        : `${total.calls} model call${total.calls === 1 ? '' : 's'}, ${total.inputTokens} input and ${total.outputTokens} output tokens, ${dollars(total.costUsd)}`;
    const outcome =
      conflict !== undefined
        ? `**Nothing was pushed:** \`${detail.branch}\` moved while the follow-up ran (someone pushed to it since ${detail.head}), so its change was not delivered and nothing was overwritten (\`CAIRN_FORGE_CONFLICT\`). Ask again to have it work from the branch as it is now.`
        : delivery !== undefined
          ? delivery.outcome === 'unchanged'
            ? `**Nothing new to push:** \`${detail.branch}\` already holds ${delivery.commit}.`
            : `**Pushed** ${delivery.commit} to \`${detail.branch}\` (on ${detail.head}); its provenance is \`${delivery.provenance.digest}\`.`
          : run?.state === 'succeeded'
            ? '**Nothing was pushed:** the run changed nothing.'
            : `**The follow-up run ${run?.state ?? 'ended'}**${failed === undefined ? '' : ` at item \`${failed.itemId}\`${failed.failure ? ` (\`${failed.failure.code}\`: ${failed.failure.message.split('\n', 1)[0]!.slice(0, 300)})` : ''}`}; nothing was pushed.`;
    return [
      `Follow-up for [${detail.feedback}](${detail.url}): run [\`${runId}\`](${link(`/v1/runs/${runId}`)}) ${run?.state ?? 'ended'}.`,
      '',
      outcome,
      '',
      `- Evidence bundle of the run: ${link(`/v1/runs/${runId}/bundle`)}`,
      `- Spend: ${spent}`,
    ].join('\n');
  }
}
