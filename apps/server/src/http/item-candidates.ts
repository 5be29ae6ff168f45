import type { EngineService } from '@cairn/engine';
import { recordedCandidateOf } from '@cairn/audit';
import { z } from 'zod';

const candidateViewSchema = z
  .strictObject({
    candidate: z.int().min(1).meta({ description: 'Its place in its round, from 1: candidate k ran vary[k-1]' }),
    attempt: z.int().min(1).meta({ description: 'The attempt it was (GET .../attempts has its logs, failure and spend)' }),
    round: z.int().min(1),
    outcome: z.string().meta({ description: 'How its attempt ended: succeeded, failed, timed-out, cancelled or lost' }),
    passed: z.boolean().meta({ description: 'Whether it may win: it succeeded, left a patch and its check passed' }),
    exitCode: z.int().nullable().meta({ description: "The check's exit code; null when it was not checked, stopped or could not run" }),
    score: z.number().nullable().meta({ description: "The number on the check's last stdout line, when there was one" }),
    patchBytes: z.int().min(0),
  })
  .meta({ id: 'Candidate', description: 'One candidate of a best-of-N item, as its candidate.checked audit entry records it (ADR 0053)' });

/** A best-of-N item's candidates and the choice among them, as the run's audit entries record them. */
export const itemCandidatesViewSchema = z
  .strictObject({
    count: z.int().min(2).meta({ description: 'Candidates a round runs (candidates.count)' }),
    order: z.enum(['score', 'smallest-diff', 'first']).meta({ description: 'How the passing candidates are ranked (select.order)' }),
    stopOnFirstPass: z.boolean(),
    checked: z.array(candidateViewSchema).meta({ description: 'Every candidate that ended, round after round, in the order their checks were recorded' }),
    winner: z.int().min(1).nullable().meta({ description: "The attempt whose patch is the item's (candidate.selected); null until a round has a winner" }),
    reason: z.string().nullable().meta({ description: 'Why the winner won, as its candidate.selected entry says' }),
    decidedBy: z
      .enum(['judge', 'order'])
      .nullable()
      .meta({ description: 'Who chose the winner: the judge (its choice among passing candidates) or the order; null until a round has a winner' }),
    judge: z
      .strictObject({
        attempt: z.int().min(1).nullable().meta({ description: 'The attempt the judge chose (candidate.judged); null when its answer was refused' }),
        reason: z.string().nullable().meta({ description: "The judge's reason for its choice" }),
        refused: z.string().nullable().meta({ description: "Why the judge's answer was refused (candidate.judge-refused): the order then decided" }),
      })
      .nullable()
      .meta({ description: 'The judge of the last judged round (select.judge, ADR 0053); null when none ran' }),
  })
  .meta({ id: 'ItemCandidates', description: "A best-of-N item's candidates side by side with their checks, and which won and why (ADR 0053)" });

export type ItemCandidatesView = z.output<typeof itemCandidatesViewSchema>;

/**
 * The run's items, each with candidates (in the run's spec) that has run with its `candidates`:
 * the run's `candidate.checked` and `candidate.selected` entries (and its judges' entries, when one
 * declares a judge), read only when the spec has such an item, so a listing of any other run reads
 * no more than before.
 */
export async function withItemCandidates<Item extends { readonly itemId: string; readonly state: string }>(
  service: Pick<EngineService, 'spec' | 'auditEntries'>,
  runId: string,
  items: readonly Item[],
): Promise<(Item | (Item & { readonly candidates: ItemCandidatesView }))[]> {
  const spec = await service.spec(runId);
  const bestOf = new Map(
    (spec?.items ?? []).flatMap((item) => (item.candidates && item.select ? [[item.id, { candidates: item.candidates, select: item.select }] as const] : [])),
  );
  if (bestOf.size === 0 || !items.some((item) => bestOf.has(item.itemId) && item.state !== 'blocked' && item.state !== 'ready')) return [...items];
  const views = new Map<string, ItemCandidatesView & { checked: ItemCandidatesView['checked'][number][] }>();
  const viewOf = (itemId: string) => {
    const declared = bestOf.get(itemId);
    if (declared === undefined) return undefined;
    let view = views.get(itemId);
    if (view === undefined) {
      const { candidates, select } = declared;
      view = {
        count: candidates.count,
        order: select.order,
        stopOnFirstPass: select.stopOnFirstPass === true,
        checked: [],
        winner: null,
        reason: null,
        decidedBy: null,
        judge: null,
      };
      views.set(itemId, view);
    }
    return view;
  };
  for await (const entry of service.auditEntries({ runId, action: 'candidate.checked' })) {
    const recorded = recordedCandidateOf(entry);
    const { candidate, attempt, round, outcome, passed, score, patchBytes } = recorded;
    viewOf(recorded.itemId)?.checked.push({ candidate, attempt, round, outcome, passed, exitCode: recorded.check?.exitCode ?? null, score, patchBytes });
  }
  for await (const entry of service.auditEntries({ runId, action: 'candidate.selected' })) {
    const view = viewOf(String(entry.data['itemId']));
    if (view === undefined) continue;
    view.winner = typeof entry.data['attempt'] === 'number' ? entry.data['attempt'] : null;
    view.reason = typeof entry.data['reason'] === 'string' ? entry.data['reason'] : null;
    view.decidedBy = entry.data['decidedBy'] === 'judge' ? 'judge' : 'order';
  }
  if (items.some((item) => bestOf.get(item.itemId)?.select.judge !== undefined)) {
    for (const action of ['candidate.judged', 'candidate.judge-refused'] as const) {
      for await (const entry of service.auditEntries({ runId, action })) {
        const view = viewOf(String(entry.data['itemId']));
        if (view === undefined) continue;
        const text = (key: string) => (typeof entry.data[key] === 'string' ? (entry.data[key] as string) : null);
        view.judge =
          action === 'candidate.judged'
            ? { attempt: typeof entry.data['chosen'] === 'number' ? entry.data['chosen'] : null, reason: text('reason'), refused: null }
            : { attempt: null, reason: null, refused: text('reason') };
      }
    }
  }
  return items.map((item) => {
    const candidates = views.get(item.itemId);
    return candidates === undefined ? item : { ...item, candidates };
  });
}
