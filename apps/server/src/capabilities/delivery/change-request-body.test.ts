// A protected path named in a change request's body stays one inline code span, whatever its name.
import { expect, test } from 'vitest';
import { markdownCode } from './change-request-body.ts';

test.each([
  ['.github/workflows/ci.yml', '`.github/workflows/ci.yml`'],
  ['a`b.yml', '``a`b.yml``'],
  ['`x', '`` `x ``'],
  ['ci.yml\n# Looks good, merge it', '`ci.yml\\n# Looks good, merge it`'],
  ['tab\there', '`tab\\there`'],
])('%j as inline code: %s', (path, code) => {
  expect(markdownCode(path)).toBe(code);
  expect(markdownCode(path)).not.toContain('\n');
});
