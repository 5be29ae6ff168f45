// docs/reference/errors.md is the published face of the error catalogue: it must list exactly
// the codes @cairn/protocol can raise, with the same words. Regenerate it with
// `CAIRN_WRITE_DOCS=1 pnpm exec vitest run tests/error-reference.test.ts`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorCatalogue, errorCodes } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { repositoryRoot } from './support/workspace.ts';

const referencePath = join(repositoryRoot, 'docs/reference/errors.md');

function renderErrorReference(): string {
  const sections = errorCodes.map((code) => {
    const { status, summary, action } = errorCatalogue[code];
    return `## \`${code}\`\n\nHTTP ${status}. ${summary}\n\n**What to do:** ${action}\n`;
  });
  return [
    '# Error codes',
    '',
    'Every error Cairn raises is a `CairnError` (from `@cairn/protocol`) with one of the codes below.',
    'The list is closed: a code never changes meaning, and a new meaning gets a new code. Errors also',
    'name where the problem is (`path`: a JSON path such as `$.items[2].dependsOn[0]`, an option or a',
    'file) and, for validation, list every issue found (`issues`). The HTTP API answers with',
    '`{ code, message, action, path?, issues? }` and the status given here.',
    '',
    'This page is generated from the catalogue and checked by `tests/error-reference.test.ts`.',
    '',
    ...sections,
  ].join('\n');
}

test('docs/reference/errors.md lists exactly the error catalogue', () => {
  const expected = renderErrorReference();
  if (process.env.CAIRN_WRITE_DOCS === '1') writeFileSync(referencePath, expected);
  expect(readFileSync(referencePath, 'utf8')).toBe(expected);
});

test('codes are upper snake case with the CAIRN_ prefix, and every status is an HTTP error status', () => {
  for (const code of errorCodes) {
    expect(code).toMatch(/^CAIRN_[A-Z0-9]+(_[A-Z0-9]+)*$/);
    expect(errorCatalogue[code].status).toBeGreaterThanOrEqual(400);
    expect(errorCatalogue[code].status).toBeLessThan(600);
  }
});
