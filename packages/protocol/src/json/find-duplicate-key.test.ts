import { expect, test } from 'vitest';
import { findDuplicateKey } from './find-duplicate-key.ts';

test.each([
  ['{"a": 1, "b": 2}', undefined],
  ['{"a": {"x": 1}, "b": {"x": 2}}', undefined],
  ['[{"a": 1}, {"a": 1}]', undefined],
  ['{"a": 1, "a": 2}', '$.a'],
  ['{"items": [{"id": "x"}, {"id": "y", "id": "z"}]}', '$.items[1].id'],
  ['{"a\\"b": 1, "a\\u0022b": 2}', '$["a\\"b"]'],
  ['{"s": "not a \\"key\\": here", "k": ["a", "a"], "e": "\\\\", "e": 1}', '$.e'],
  ['{"name with space": {"q": 1, "q" : 2}}', '$["name with space"].q'],
])('%s → %s', (text, expected) => {
  expect(findDuplicateKey(text)).toBe(expected);
});
