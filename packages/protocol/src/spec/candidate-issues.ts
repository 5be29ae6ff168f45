import type { ItemSpec, RunSpecV1 } from '@cairn/core';
import type { ValidationIssue } from '../errors/cairn-error.ts';

/**
 * The rules of best of N (ADR 0053) that the shape alone cannot say: `candidates` and `select` come
 * together; a candidate set is not combined with what would make N attempts of one item mean
 * something else (a `forEach`, a planner, locks each attempt would need, a reused pure result, a
 * merge or delivery, which choose nothing); a variation changes only what its runtime has; and a
 * run whose `concurrency` is below `count` could never admit a round, which runs whole.
 */
export function candidateIssues(spec: RunSpecV1): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const report = (path: string, message: string) => issues.push({ code: 'CAIRN_RUN_SPEC_INVALID', path, message });
  spec.items.forEach((item, index) => {
    const base = `$.items[${index}]`;
    if (item.candidates === undefined) {
      if (item.select !== undefined)
        report(`${base}.select`, 'chooses among candidates, and the item has none: add candidates: { count: N } or leave select out.');
      return;
    }
    if (item.select === undefined) {
      report(
        `${base}.select`,
        'must say how the winner among the candidates is chosen: select: { check: { argv: [...] }, order: score | smallest-diff | first }.',
      );
    }
    const refused = (field: keyof ItemSpec, why: string) => {
      if (item[field] !== undefined) report(`${base}.${field}`, `cannot be given with candidates: ${why}`);
    };
    refused('forEach', 'an item runs as candidates or once per element, not both; put candidates on an item that reads one element.');
    refused('emits', 'a planner adds items, and N candidates would add them N times; let a candidate item be planned instead.');
    refused('locks', 'each candidate is an attempt running at once and would need the locks too; take them on the item that applies the winner.');
    if (item.effect === 'pure')
      report(`${base}.effect`, 'cannot be pure with candidates: a reused result has no candidates or check to prove; use read-impure.');
    if (item.select?.judge !== undefined && item.select.stopOnFirstPass === true)
      report(
        `${base}.select.judge`,
        'cannot be given with stopOnFirstPass: the first candidate to pass wins at once, and nothing is left to judge. Drop one of them.',
      );
    const kind = item.runtime.kind;
    if (kind === 'merge' || kind === 'deliver')
      report(`${base}.runtime`, `must run a program (command or agent) with candidates, not a ${kind}: it has nothing to choose among.`);
    if (spec.concurrency !== undefined && spec.concurrency < item.candidates.count)
      report(
        `${base}.candidates.count`,
        `is ${item.candidates.count}, more than the run's concurrency ${spec.concurrency}: a round of candidates runs at once. Raise $.concurrency or lower the count.`,
      );
    item.candidates.vary?.forEach((variation, position) => {
      const path = `${base}.candidates.vary[${position}]`;
      if (kind !== 'agent' && variation.prompt !== undefined)
        report(`${path}.prompt`, `changes an agent's prompt, and the item runs a ${kind}: vary argv or env instead.`);
      if (kind !== 'agent' && variation.model !== undefined)
        report(`${path}.model`, `changes an agent's model, and the item runs a ${kind}: vary argv or env instead.`);
      if (kind !== 'command' && variation.argv !== undefined)
        report(`${path}.argv`, `changes a command's argv, and the item runs a ${kind}: vary prompt, model or env instead.`);
    });
  });
  return issues;
}
