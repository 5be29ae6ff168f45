import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { egressLines, egressOf, egressReasonWords } from './egress-lines.ts';
import { statusItemLines } from './status-lines.ts';

const summary = {
  allowed: 3,
  refused: 4,
  refusals: [
    { host: 'evil.example.com', port: 443, reason: 'not-allowed', wouldAdmit: 'evil.example.com' },
    { host: 'evil.example.com', port: 443, reason: 'not-allowed', wouldAdmit: 'evil.example.com' },
    { host: 'registry.example.org', port: 8443, reason: 'not-allowed', wouldAdmit: 'registry.example.org:8443' },
    { host: '169.254.169.254', port: 80, reason: 'ip-literal', wouldAdmit: null },
  ],
  flagged: 0,
};

test('each refusal says the allow entry that would admit it, or why none would; the same refusal once, with how many times', () => {
  expect(egressLines(summary)).toEqual([
    '  egress: 3 allowed, 4 refused',
    '    refused evil.example.com:443 (not-allowed) ×2 — to allow it, add "evil.example.com" to the item\'s network.allow',
    '    refused registry.example.org:8443 (not-allowed) — to allow it, add "registry.example.org:8443" to the item\'s network.allow',
    '    refused 169.254.169.254:80 (ip-literal) — not allowable: an IP address; the network is reached by host name only',
  ]);
});

test('refusals past the summary, flagged placeholders, an IPv6 host and a reason this CLI does not know', () => {
  const lines = egressLines(
    {
      attempt: 2,
      allowed: 0,
      refused: 30,
      refusals: [
        { host: '::1', port: 443, reason: 'ip-literal', wouldAdmit: null },
        { host: 'upstream.example', port: 443, reason: 'a-reason-from-a-newer-worker', wouldAdmit: null },
      ],
      flagged: 2,
    },
    0,
  );
  expect(lines).toEqual([
    'egress (attempt 2): 0 allowed, 30 refused',
    '  refused [::1]:443 (ip-literal) — not allowable: an IP address; the network is reached by host name only',
    '  refused upstream.example:443 (a-reason-from-a-newer-worker) — not allowable by an allow entry',
    "  … 28 more refused: the attempt's egress artifact records every connection",
    '  flagged: 2 credential placeholders were sent to a host it is not bound to',
  ]);
});

test('nothing refused or flagged, or no egress at all: no lines', () => {
  expect(egressLines({ allowed: 5, refused: 0, refusals: [], flagged: 0 })).toEqual([]);
  expect(egressLines(undefined)).toEqual([]);
  expect(egressOf({})).toBeUndefined();
  expect(egressOf({ egress: { allowed: 'many' } })).toBeUndefined();
  // Fields a newer server adds do not hide the rest.
  expect(egressOf({ egress: { ...summary, bytes: 12 } })).toMatchObject({ allowed: 3, refused: 4 });
});

test("cairn status shows an item's refusals under it, indented with it", () => {
  const items = [
    { itemId: 'plan', state: 'succeeded' as const },
    { itemId: 'plan/fetch', state: 'failed' as const, egress: { attempt: 1, ...summary, refusals: summary.refusals.slice(0, 1), refused: 1 } },
    { itemId: 'quiet', state: 'succeeded' as const, egress: { attempt: 1, allowed: 2, refused: 0, refusals: [], flagged: 0 } },
  ];
  expect(statusItemLines(items, undefined)).toEqual([
    '  plan             succeeded',
    '    plan/fetch     failed',
    '      egress (attempt 1): 3 allowed, 1 refused',
    '        refused evil.example.com:443 (not-allowed) — to allow it, add "evil.example.com" to the item\'s network.allow',
    '  quiet            succeeded',
  ]);
});

test("every reason the worker's egress proxy gives has words here, and no other", () => {
  const source = readFileSync(fileURLToPath(new URL('../../../../packages/worker/src/egress/egress-record.ts', import.meta.url)), 'utf8');
  const union = /export type EgressRefusalReason =([^;]+);/.exec(source)?.[1] ?? '';
  const reasons = [...union.matchAll(/\|\s*'([a-z-]+)'/g)].map((match) => match[1]);
  expect(reasons.length).toBeGreaterThan(10);
  expect(Object.keys(egressReasonWords).sort()).toEqual(reasons.sort());
});
