// Refusals a page can provoke at will are logged at most once a minute, each line counting those
// since the last; on a clock the test moves.
import { afterEach, expect, test, vi } from 'vitest';
import { RefusalLog, type RefusedRequest } from './refusal-log.ts';

afterEach(() => {
  vi.useRealTimers();
});

test('the first refusal is logged at once; the next ones within a minute make one line when it is over, counting them', () => {
  vi.useFakeTimers();
  const lines: [number, RefusedRequest][] = [];
  const log = new RefusalLog((count, last) => lines.push([count, last]));
  log.saw('origin', { host: '127.0.0.1:7600', origin: 'http://evil.test' });
  expect(lines).toEqual([[1, { reason: 'origin', host: '127.0.0.1:7600', origin: 'http://evil.test' }]]);
  for (let index = 0; index < 500; index++) log.saw('host', { host: `rebind.test:${index}` });
  expect(lines).toHaveLength(1);
  vi.advanceTimersByTime(59_999);
  expect(lines).toHaveLength(1);
  vi.advanceTimersByTime(1);
  expect(lines).toEqual([
    [1, { reason: 'origin', host: '127.0.0.1:7600', origin: 'http://evil.test' }],
    [500, { reason: 'host', host: 'rebind.test:499' }],
  ]);
  // Quiet for a minute: nothing more is written, and the next refusal is logged at once again.
  vi.advanceTimersByTime(120_000);
  expect(lines).toHaveLength(2);
  log.saw('origin', { host: '127.0.0.1:7600', origin: 'x'.repeat(1_000) });
  expect(lines.at(-1)).toEqual([1, { reason: 'origin', host: '127.0.0.1:7600', origin: 'x'.repeat(200) }]);
});
