import type { AuditActor, RunSpecV1 } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { CairnError, parseRunSpec } from '@cairn/protocol';
import type { DeliveredTip } from './delivered-tips.ts';

/** The scope a submitter needs for a deliver item that says `takeOver: true`. */
export const takeOverScope = 'branches:take-over';

/**
 * A delivered branch belongs to the run that delivered it last (its tip record names it): another
 * run may replace it only when its deliver item says `takeOver` and the run's submitted spec says it
 * of some deliver item, which its submitter could write only holding `branches:take-over`
 * (`assertTakeOverGranted`): an item a planner adds takes a branch over only when the submitter was
 * allowed to. Otherwise CAIRN_FORGE_CONFLICT, before anything is pushed. The forge's lease on the
 * recorded tip still guards the push itself, so two runs taking a branch at once cannot both win.
 */
export function assertMayReplaceBranch(
  delivery: {
    readonly forge: string;
    readonly branch: string;
    readonly runId: string;
    readonly itemId: string;
    readonly takeOver: boolean;
    readonly submittedSpec: RunSpecV1 | null | undefined;
  },
  tip: DeliveredTip | null,
): void {
  if (tip === null || tip.runId === delivery.runId) return;
  const { forge, branch, runId, itemId } = delivery;
  const owned = `The branch ${branch} on the forge ${forge} was delivered by run ${tip.runId} (item ${tip.itemId}), and a delivered branch belongs to the run that delivered it`;
  if (!delivery.takeOver)
    throw new CairnError(
      'CAIRN_FORGE_CONFLICT',
      `${owned}: item ${itemId} of run ${runId} left it as it is. Deliver to a branch of this run's own (e.g. with {runId} in its name), or, to replace it, say takeOver: true on the deliver item (runtime.takeOver) and submit the run with a token holding the ${takeOverScope} scope.`,
      { path: 'runtime.takeOver', details: { forge, branch, deliveredBy: tip.runId } },
    );
  const granted = (delivery.submittedSpec?.items ?? []).some((item) => item.runtime.kind === 'deliver' && item.runtime.takeOver === true);
  if (!granted)
    throw new CairnError(
      'CAIRN_FORGE_CONFLICT',
      `${owned}: item ${itemId} of run ${runId} says takeOver, but the run's submitted spec says it of no deliver item, so its submitter was never allowed to take a branch over (an item a planner added inherits only what the submitter was allowed). It was left as it is; submit a run whose spec says takeOver, with a token holding the ${takeOverScope} scope.`,
      { path: 'runtime.takeOver', details: { forge, branch, deliveredBy: tip.runId } },
    );
}

/**
 * Refuses, at submit, a spec with a deliver item saying `takeOver: true` from a submitter without
 * the `branches:take-over` scope (`granted` false), audited as a denied access, naming the item's
 * JSON path and the scope to ask for. A spec's text is parsed again only when it could hold the
 * key: spelled out, or escaped (`"take\u004fver"` in JSON, `"take\x4fver"` in YAML), which needs a
 * backslash.
 */
export async function assertTakeOverGranted(
  document: unknown,
  granted: boolean,
  denial: { readonly actor: AuditActor; readonly hostAudit: EngineService['hostAudit'] },
): Promise<void> {
  if (granted) return;
  if (typeof document === 'string' && !document.includes('takeOver') && !document.includes('\\')) return;
  let spec: unknown;
  try {
    spec = typeof document === 'string' ? parseRunSpec(document) : document;
  } catch {
    // Not a spec: the submission refuses it, with its own error.
    return;
  }
  const items = (spec as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) return;
  const index = items.findIndex(
    (item: { runtime?: { kind?: unknown; takeOver?: unknown } } | null) => item?.runtime?.kind === 'deliver' && item.runtime.takeOver === true,
  );
  if (index < 0) return;
  await denial.hostAudit.accessDenied({
    actor: denial.actor,
    entity: { kind: 'server', id: 'branches' },
    requestedAction: 'branches.take-over',
    reason: `no ${takeOverScope} scope`,
  });
  throw new CairnError(
    'CAIRN_FORBIDDEN',
    `${denial.actor.id} may not submit a deliver item that takes over another run's branch (takeOver: true, item ${JSON.stringify((items[index] as { id?: unknown }).id)}): it lacks the ${takeOverScope} scope. Leave takeOver out and deliver to a branch of the run's own, or ask an admin for a token with it (\`cairn token create --scope runs:submit ${takeOverScope}\`).`,
    { path: `$.items[${index}].runtime.takeOver`, details: { scope: takeOverScope } },
  );
}
