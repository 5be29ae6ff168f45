import { expect, test } from 'vitest';
import { parseJsonPath, selectJsonPath } from './select-json-path.ts';

test('paths of $, .name and [index] steps select what they name, and say where a walk found nothing', () => {
  expect(parseJsonPath('$')).toEqual([]);
  expect(parseJsonPath('$.runs[0].failing-tests')).toEqual(['runs', 0, 'failing-tests']);
  for (const bad of ['', 'tests', '$.', '$[x]', '$..a', '$.a b', "$['a']", '$[-1]']) expect(parseJsonPath(bad), bad).toBeUndefined();
  const value = { runs: [{ tests: ['a', 'b'] }], toString: 1 };
  expect(selectJsonPath(value, ['runs', 0, 'tests'])).toEqual({ found: ['a', 'b'] });
  expect(selectJsonPath(value, ['runs', 1])).toEqual({ missing: '$.runs[1]' });
  expect(selectJsonPath(value, ['runs', 0, 'tests', 'length'])).toEqual({ missing: '$.runs[0].tests.length' });
  // Only the value's own members: nothing inherited is found.
  expect(selectJsonPath({}, ['constructor'])).toEqual({ missing: '$.constructor' });
});
