import { expect, test } from 'vitest';
import { parseQuantity } from './quantity.ts';

test.each([
  ['64Mi', 64 * 2 ** 20],
  ['1Gi', 2 ** 30],
  ['1G', 1e9],
  ['500m', 0.5],
  ['1e9', 1e9],
  ['128974848', 128974848],
  ['1.5Ki', 1536],
  ['lots', undefined],
  ['1Mb', undefined],
])('%s is %s', (quantity, value) => {
  expect(parseQuantity(quantity)).toBe(value);
});
