// A failed check's report or job log as a follow-up is given it: the end, bounded by lines then
// bytes and saying what was cut, GitHub's timestamps and terminal colours dropped, credentials
// redacted before the cut.
import { describe, expect, test } from 'vitest';
import { logExcerpt, redactCredentials } from './log-excerpt.ts';

const bounds = { maxLines: 100, maxBytes: 4_000 };

describe('logExcerpt', () => {
  test('a short log is kept whole', () => {
    expect(logExcerpt('npm test\nnot ok 1\n', bounds)).toBe('npm test\nnot ok 1');
  });

  test('its last lines, then its last bytes, saying how much was cut', () => {
    const log = Array.from({ length: 250 }, (_, index) => `line ${index + 1}`).join('\n');
    expect(logExcerpt(log, { maxLines: 3, maxBytes: 4_000 })).toBe('(247 earlier lines cut) …\nline 248\nline 249\nline 250');
    expect(logExcerpt(log, { maxLines: 3, maxBytes: 12 })).toBe('(247 earlier lines and 14 more bytes cut) …\n249\nline 250');
  });

  test('a cut never splits a character', () => {
    const excerpt = logExcerpt('ééééé', { maxLines: 10, maxBytes: 5 });
    expect(excerpt).toBe('(6 more bytes cut) …\néé');
    expect(excerpt).not.toContain('\uFFFD');
  });

  test("GitHub's timestamps and terminal colours are dropped", () => {
    expect(logExcerpt('2026-11-28T10:00:03.1234567Z \u001b[31mFAIL\u001b[0m test/a.test.ts', bounds)).toBe('FAIL test/a.test.ts');
  });
});

describe('redactCredentials', () => {
  test.each([
    ['a GitHub token', `token ghp_${'a'.repeat(36)} used`, 'token ghp_[redacted] used'],
    ['a fine-grained GitHub token', `github_pat_${'b'.repeat(40)}`, 'github_pat_[redacted]'],
    ['an installation token in a URL', `https://x-access-token:ghs_${'c'.repeat(36)}@github.com/a/b.git`, 'https://[redacted]@github.com/a/b.git'],
    ['an OpenAI key', `OPENAI_API_KEY=sk-proj-${'d'.repeat(40)}`, 'OPENAI_API_KEY=sk-proj-[redacted]'],
    ['an AWS access key id', 'AKIAIOSFODNN7EXAMPLE', 'AKIAIOSF[redacted]'],
    ['an authorization header', 'Authorization: Bearer abc.def.ghi', 'Authorization: Bearer [redacted]'],
    ['a private key', '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----', '[redacted private key]'],
    ['a Cairn token', `cairn_${'0'.repeat(12)}_secretvalue`, `cairn_${'0'.repeat(12)}_[redacted]`],
  ])('%s', (_name, text, redacted) => {
    expect(redactCredentials(text)).toBe(redacted);
  });

  test('a token cut by the bound is redacted first, so no half of it is left', () => {
    const excerpt = logExcerpt(`x\nGITHUB_TOKEN=ghp_${'e'.repeat(36)}`, { maxLines: 10, maxBytes: 20 });
    expect(excerpt).not.toContain('eeee');
  });
});
