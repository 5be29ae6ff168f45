import { addRemoveCommand, clientOf, json, program, say, sayList } from './cli-program.ts';

/** `cairn webhook add|list|rm|deliveries`: webhook endpoints of a running server (admin token). */
export function addWebhookCommands(): void {
  const webhook = program.command('webhook').description('webhook endpoints of a running server: signed deliveries of its events (Standard Webhooks)');
  webhook
    .command('add')
    .argument('<url>', 'where to POST each event (http or https)')
    .option('--event <type...>', 'only these event types: run.state, item.state, attempt.state (default: all)')
    .option('--run <runId>', "only this run's events")
    .option('--description <text>', 'what the endpoint is for')
    .option('--server <url>', 'the server')
    .description('add an endpoint; prints its signing secret once')
    .action(async (url: string, options: { event?: string[]; run?: string; description?: string; server?: string }) => {
      const added = await (
        await clientOf(options.server)
      ).addWebhook({
        url,
        ...(options.event ? { events: options.event } : {}),
        ...(options.run ? { runId: options.run } : {}),
        ...(options.description ? { description: options.description } : {}),
      });
      if (json()) say(JSON.stringify(added));
      else say(`webhook ${added.webhookId} added for ${added.url}\nsigning secret (shown once; verify deliveries with it): ${added.secret}`);
    });
  webhook
    .command('list')
    .description('the endpoints (never their secrets)')
    .option('--server <url>', 'the server')
    .action(async (options: { server?: string }) => {
      const webhooks = await (await clientOf(options.server)).webhooks();
      sayList(
        webhooks,
        (item) =>
          `${item.webhookId}  ${item.url}  ${item.events?.join(',') ?? 'all events'}${item.runId ? ` of run ${item.runId}` : ''}${item.disabledAt ? `  DISABLED (${item.disabledReason ?? ''})` : ''}`,
      );
    });
  addRemoveCommand(
    webhook,
    'webhook',
    ['<webhookId>', 'the endpoint id (cairn webhook list)'],
    'remove an endpoint; its pending deliveries stop',
    (cairn, id) => cairn.removeWebhook(id),
  );
  webhook
    .command('deliveries')
    .argument('<webhookId>', 'the endpoint id')
    .option('--server <url>', 'the server')
    .description("the endpoint's latest deliveries")
    .action(async (webhookId: string, options: { server?: string }) => {
      const deliveries = await (await clientOf(options.server)).webhookDeliveries(webhookId);
      sayList(
        deliveries,
        (item) =>
          `${item.deliveryId}  event ${String(item.eventId).padEnd(6)} ${item.eventType.padEnd(14)} ${item.status.padEnd(9)} attempts ${item.attempts}${item.lastStatusCode === null ? '' : `  last ${item.lastStatusCode}`}${item.lastError ? `  (${item.lastError})` : ''}${item.nextAttemptAt ? `  next ${item.nextAttemptAt}` : ''}`,
      );
    });
}
