import type { AuditEntry, EvidenceBundleV1, ItemSpec, JsonObject } from '@cairn/core';
import { rankCandidates } from '../candidates/rank-candidates.ts';
import { recordedCandidateOf, type RecordedCandidate } from '../candidates/checked-candidate.ts';
import { fail, pass, type BundleContext, type CheckResult } from './bundle-checks.ts';

/**
 * Best of N (ADR 0053): every round an item of the run decided is re-decided from the bundle. For
 * each `candidate.selected`: the item has candidates in the run's spec (or its planner's fragment);
 * each of the round's candidates has its `candidate.checked` entry before it; the winner is one
 * that passed (it succeeded, left a patch, its check passed), and its patch is the one named; and
 * `rankCandidates` over those entries, with the order and `stopOnFirstPass` **of the spec** (an
 * entry's own `order` must agree with it, but is never trusted), puts it first. For each
 * `candidate.none-passed`: none of its round passed. And an item with candidates that succeeded has
 * its round's selection before its success. A judge's entries are re-read too: a round that two or
 * more passed, of an item whose spec declares a judge, has one; an accepted choice must be a passing
 * candidate and wins (`decidedBy: judge`); a refusal leaves the order (`decidedBy: order`). The
 * entries are proven by the other checks; this one proves the choice follows from them.
 */
export function checkCandidates({ bundle }: BundleContext): CheckResult {
  const specs = candidateSpecs(bundle);
  if (specs.size === 0) return pass('no item of the run has candidates');
  const checked: RecordedCandidate[] = [];
  // A round's judge entry (candidate.judged or candidate.judge-refused), by `item/round`.
  const judges = new Map<string, { readonly at: string; readonly entry: AuditEntry }>();
  const selectedItems = new Set<string>();
  let rounds = 0;
  for (const [position, entry] of bundle.entries.entries()) {
    const at = `$.entries[${position}] (${entry.action})`;
    if (entry.action === 'candidate.checked') {
      checked.push(recordedCandidateOf(entry));
      continue;
    }
    if (entry.action === 'candidate.judged' || entry.action === 'candidate.judge-refused') {
      const itemId = String(entry.data['itemId']);
      if (specs.get(itemId)?.select.judge === undefined) return fail(`${at} names item ${itemId}, whose spec declares no select.judge`);
      judges.set(`${itemId}/${String(entry.data['round'])}`, { at, entry });
      continue;
    }
    if (entry.action === 'item.succeeded') {
      const itemId = entry.entity.id.slice(bundle.runId.length + 1);
      if (specs.has(itemId) && !selectedItems.has(itemId))
        return fail(`${at}: item ${itemId} has candidates and succeeded with no candidate.selected before it`);
      continue;
    }
    if (entry.action !== 'candidate.selected' && entry.action !== 'candidate.none-passed') continue;
    const itemId = String(entry.data['itemId']);
    const round = entry.data['round'];
    const spec = specs.get(itemId);
    if (spec === undefined) return fail(`${at} names item ${itemId}, which has no candidates in the run's spec`);
    const ofRound = checked.filter((candidate) => candidate.itemId === itemId && candidate.round === round);
    if (ofRound.length !== spec.candidates.count)
      return fail(
        `${at}: round ${String(round)} of item ${itemId} has ${ofRound.length} candidate.checked entries before it, not the ${spec.candidates.count} candidates its spec runs`,
      );
    const ranking = { order: spec.select.order, stopOnFirstPass: spec.select.stopOnFirstPass === true };
    const ranked = rankCandidates(ofRound, ranking);
    rounds++;
    if (entry.action === 'candidate.none-passed') {
      if (ranked.length > 0) return fail(`${at} says no candidate of round ${String(round)} passed, but attempt ${ranked[0]!.attempt} did`);
      continue;
    }
    // The judge (ADR 0053): run when two or more passed and the spec declares one; an accepted
    // choice must be a passing candidate of the round, and then it wins; a refusal leaves the order.
    const judge = judges.get(`${itemId}/${String(round)}`);
    if (spec.select.judge !== undefined && ranked.length >= 2 && judge === undefined)
      return fail(`${at}: round ${String(round)} of item ${itemId} had ${ranked.length} passing candidates and a judge in its spec, but no judge entry`);
    let judgeChoice: number | undefined;
    if (judge?.entry.action === 'candidate.judged') {
      const chosen = ofRound.find((candidate) => candidate.attempt === judge.entry.data['chosen']);
      if (chosen === undefined || chosen.candidate !== judge.entry.data['candidate'])
        return fail(
          `${judge.at} chooses attempt ${String(judge.entry.data['chosen'])}, which is not candidate ${String(judge.entry.data['candidate'])} of round ${String(round)} of item ${itemId}`,
        );
      if (!chosen.passed)
        return fail(`${judge.at} chooses attempt ${chosen.attempt}, which did not pass its check: a judge may only choose among those that passed`);
      judgeChoice = chosen.attempt;
    }
    const decidedBy = judgeChoice === undefined ? 'order' : 'judge';
    if ((entry.data['decidedBy'] ?? 'order') !== decidedBy)
      return fail(`${at} says it was decided by ${String(entry.data['decidedBy'])}, but the log's entries say ${decidedBy}`);
    const best = rankCandidates(ofRound, { ...ranking, judge: judgeChoice })[0];
    const data: JsonObject = entry.data;
    const winner = ofRound.find((candidate) => candidate.attempt === data['attempt']);
    if (winner === undefined)
      return fail(`${at} chooses attempt ${String(data['attempt'])}, which is no candidate of round ${String(round)} of item ${itemId}`);
    if (!winner.passed)
      return fail(
        `${at} chooses attempt ${winner.attempt}, which did not pass its check (${winner.outcome}${winner.check ? `, check exit ${winner.check.exitCode ?? 'none'}` : ', not checked'})`,
      );
    if (data['order'] !== spec.select.order || data['stopOnFirstPass'] !== ranking.stopOnFirstPass)
      return fail(
        `${at} says order ${String(data['order'])} (stopOnFirstPass ${String(data['stopOnFirstPass'])}), but the spec says ${spec.select.order} (stopOnFirstPass ${ranking.stopOnFirstPass})`,
      );
    if (best!.attempt !== winner.attempt)
      return fail(
        judgeChoice === undefined
          ? `${at} chooses attempt ${winner.attempt}, but order ${spec.select.order}${ranking.stopOnFirstPass ? ' under stopOnFirstPass' : ''} puts attempt ${best!.attempt} first`
          : `${at} chooses attempt ${winner.attempt}, but the judge chose attempt ${judgeChoice}`,
      );
    const patch = bundle.entries.find((each) => each.action === 'candidate.checked' && each.seq === winner.seq)?.data['patch'];
    if (data['patch'] !== patch) return fail(`${at} names patch ${String(data['patch'])}, but attempt ${winner.attempt}'s check names ${String(patch)}`);
    selectedItems.add(itemId);
  }
  return pass(`${rounds} round${rounds === 1 ? '' : 's'} of candidates decided as their items' order says`);
}

type CandidateItemSpec = ItemSpec & { readonly candidates: NonNullable<ItemSpec['candidates']>; readonly select: NonNullable<ItemSpec['select']> };

/** The run's items with candidates, by id: the spec's, and those its planners' fragments added (`<planner>/<id>`). */
function candidateSpecs(bundle: EvidenceBundleV1): Map<string, CandidateItemSpec> {
  const specs = new Map<string, CandidateItemSpec>();
  const add = (id: string, item: ItemSpec) => {
    if (item.candidates !== undefined && item.select !== undefined) specs.set(id, item as CandidateItemSpec);
  };
  for (const item of bundle.spec.items) add(item.id, item);
  const fragments = new Map((bundle.fragments ?? []).map((fragment) => [fragment.digest as string, fragment.fragment]));
  for (const entry of bundle.entries) {
    if (entry.action !== 'run.extended' || typeof entry.data['emitter'] !== 'string') continue;
    const fragment = fragments.get(String(entry.data['fragment']));
    const items = typeof fragment === 'object' && fragment !== null && !Array.isArray(fragment) ? fragment['items'] : undefined;
    if (!Array.isArray(items)) continue;
    for (const item of items) {
      if (typeof item === 'object' && item !== null && !Array.isArray(item) && typeof item['id'] === 'string')
        add(`${entry.data['emitter']}/${item['id']}`, item as unknown as ItemSpec);
    }
  }
  return specs;
}
