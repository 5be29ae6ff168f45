import { expect, test } from 'vitest';
import { environmentLines, environmentOf } from './environment-lines.ts';
import { statusItemLines } from './status-lines.ts';

const digest = `sha256:ab12cd34ef56${'0'.repeat(52)}`;
const log = `sha256:${'1'.repeat(64)}`;

test("cairn status: under each item with a warm environment, its latest attempt's environment, built (with the setup's time) or reused", () => {
  const items = [
    { itemId: 'one', state: 'succeeded' as const, environment: { attempt: 1, digest, built: true, setupMs: 5_630, log, egress: log } },
    { itemId: 'two', state: 'succeeded' as const, environment: { attempt: 2, digest, built: false, setupMs: 5_630, log } },
    { itemId: 'plain', state: 'succeeded' as const },
    { itemId: 'plan', state: 'succeeded' as const },
    { itemId: 'plan/child', state: 'failed' as const, environment: { attempt: 1, digest, built: false, setupMs: 40, log } },
  ];
  expect(statusItemLines(items, undefined)).toEqual([
    '  one              succeeded',
    '    environment (attempt 1): sha256:ab12cd34ef56… built in 5.6 s',
    '  two              succeeded',
    '    environment (attempt 2): sha256:ab12cd34ef56… reused (its setup took 5.6 s)',
    '  plain            succeeded',
    '  plan             succeeded',
    '    plan/child     failed',
    '      environment (attempt 1): sha256:ab12cd34ef56… reused (its setup took 0.0 s)',
  ]);
});

test("an environment that does not read as one shows nothing; a newer server's added fields do not hide it", () => {
  const view = { digest, built: true, setupMs: 1_200, log };
  expect(environmentOf({ environment: { ...view, layerBytes: 12 } })).toEqual(view);
  expect(environmentLines(environmentOf({ environment: view }))).toEqual(['  environment: sha256:ab12cd34ef56… built in 1.2 s']);
  for (const broken of [
    null,
    'sha256:x',
    { ...view, built: 'yes' },
    { ...view, setupMs: -1 },
    { ...view, log: 7 },
    { ...view, attempt: 1.5 },
    { ...view, egress: 3 },
  ])
    expect(environmentOf({ environment: broken })).toBeUndefined();
  expect(environmentLines(undefined)).toEqual([]);
});
