// Pages that once listed a feature as "not yet" or "still to come" must not go on saying so once it
// exists: each check ties a page's words to the code that shows the feature is there.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runStates } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { repositoryRoot } from './support/workspace.ts';

/** A page's paragraphs (blank-line separated), headings included. */
function paragraphs(page: string): string[] {
  return readFileSync(join(repositoryRoot, page), 'utf8').split(/\n\s*\n/);
}

const stillToCome = /still to come|not yet|to come \(issue/i;

test('budgets-and-quotas.md does not call awaiting-budget or spend in webhooks still to come: both exist', () => {
  expect(runStates).toContain('awaiting-budget');
  const webhookDispatcher = readFileSync(join(repositoryRoot, 'apps/server/src/capabilities/webhooks/webhook-dispatcher.ts'), 'utf8');
  expect(webhookDispatcher).toMatch(/spendStates = new Set\(\['awaiting-budget'/);
  const page = paragraphs('docs/guides/budgets-and-quotas.md');
  expect(page.filter((paragraph) => paragraph.includes('awaiting-budget') && stillToCome.test(paragraph))).toEqual([]);
  expect(page.filter((paragraph) => /^## Not yet$/m.test(paragraph))).toEqual([]);
});
