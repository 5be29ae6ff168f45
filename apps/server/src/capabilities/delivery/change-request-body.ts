import type { DeliverRuntimeSpec } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { dollars } from '@cairn/protocol/format';
import { RunSpend } from '../gateway/model-spend.ts';

/** Items listed in a change request's summary; a larger run says how many more there are. */
const listedItems = 50;

/** What a change request's body and comment say about a delivery. */
export interface DeliveredChange {
  readonly runtime: DeliverRuntimeSpec;
  readonly runId: string;
  readonly commit: string;
  readonly baseCommit: string;
  readonly provenance: { readonly digest: string; readonly bytes: Uint8Array };
  /** `server.publicUrl`; links are paths on the server when it is unset. */
  readonly publicUrl?: string;
}

/** What the body adds to a change: the protected paths the patch touches (none: no section). */
export interface DeliveredChangeBody extends DeliveredChange {
  readonly protectedPaths: readonly string[];
}

/**
 * The change request's body: the item's own `body`, then what Cairn adds — the run's items and
 * their states, what its model calls spent (the gateway's figures) and links to its evidence (the
 * run's evidence bundle, the patch's provenance bundle by digest, the run on the server). A patch
 * touching paths the forge protects (its CI configuration) says so first, where a reviewer looks.
 */
export async function changeRequestBody(service: Pick<EngineService, 'items' | 'auditEntries'>, change: DeliveredChangeBody): Promise<string> {
  const { runtime, runId } = change;
  const [items, spend] = await Promise.all([service.items(runId), RunSpend.read(service.auditEntries({ runId, action: 'model.called' }))]);
  const rows = items.slice(0, listedItems).map((item) => `| \`${item.itemId}\` | ${item.state} |`);
  if (items.length > listedItems) rows.push(`| … | and ${items.length - listedItems} more items |`);
  const total = spend.run;
  const spent =
    total.calls === 0
      ? 'No model calls.'
      : `${total.calls} model call${total.calls === 1 ? '' : 's'}: ${total.inputTokens} input and ${total.outputTokens} output tokens, ${dollars(total.costUsd)}${total.unknownCost > 0 ? ` (${total.unknownCost} of unknown cost not counted)` : ''}.`;
  const link = linker(change.publicUrl);
  return [
    ...(runtime.body === undefined || runtime.body.trim() === '' ? [] : [runtime.body.trim(), '', '---', '']),
    `Delivered by [Cairn](${link(`/v1/runs/${runId}`)}): the patch of item \`${runtime.from}\` of run \`${runId}\`, as commit ${change.commit} on \`${runtime.base}\` at ${change.baseCommit}.`,
    '',
    ...(change.protectedPaths.length === 0
      ? []
      : [
          '### Protected paths',
          '',
          `> [!WARNING]\n> This patch changes what the forge runs as configuration (\`forges.${runtime.forge}.protectedPaths\`): review these before merging.`,
          '',
          ...change.protectedPaths.map((path) => `- ${markdownCode(path)}`),
          '',
        ]),
    '### Run',
    '',
    '| Item | State |',
    '| --- | --- |',
    ...rows,
    '',
    `**Spend:** ${spent}`,
    '',
    '### Evidence',
    '',
    `- Evidence bundle of the run: ${link(`/v1/runs/${runId}/bundle`)}`,
    `- Provenance of the patch (Sigstore bundle, \`${change.provenance.digest}\`): ${link(`/v1/blobs/${change.provenance.digest}`)}`,
    `- Check it offline: \`cairn verify provenance provenance.json --trusted-key-file KEY --patch ${runtime.from}.patch\``,
    ...(change.publicUrl === undefined
      ? ['', '_Links are paths on the Cairn server that ran it (its operator can set `server.publicUrl` to make them addresses)._']
      : []),
  ].join('\n');
}

/** The comment that attaches the patch's provenance to the change request: its link and the bundle itself. */
export function provenanceComment(change: DeliveredChange): string {
  const link = linker(change.publicUrl);
  return [
    `Provenance of commit ${change.commit} (the commit's \`Cairn-Evidence: ${change.provenance.digest}\`): ${link(`/v1/blobs/${change.provenance.digest}`)}`,
    '',
    '<details><summary>Sigstore bundle (in-toto statement, SLSA Provenance v1, DSSE-signed by the Cairn server)</summary>',
    '',
    '```json',
    Buffer.from(change.provenance.bytes).toString('utf8'),
    '```',
    '',
    '</details>',
  ].join('\n');
}

/**
 * A path as inline code in Markdown that no name can break out of: control characters (a line
 * break would start a line of its own) written as JSON escapes, and a fence of more backticks than
 * the longest run the name holds.
 */
export function markdownCode(text: string): string {
  const escaped = text.replace(/[\u0000-\u001f\u007f]/g, (character) => JSON.stringify(character).slice(1, -1));
  const longest = Math.max(0, ...(escaped.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const padded = escaped.startsWith('`') || escaped.endsWith('`') ? ` ${escaped} ` : escaped;
  return `${fence}${padded}${fence}`;
}

function linker(publicUrl: string | undefined): (path: string) => string {
  return (path) => (publicUrl === undefined ? path : `${publicUrl.replace(/\/+$/, '')}${path}`);
}
