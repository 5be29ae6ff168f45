import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { diagnoseRuntimes } from './diagnose-runtimes.ts';

const configurationPage = join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'operations', 'configuration.md');

test('doctor checks a configured codex runtime (its binary, and the gateway it runs through), and the configuration page says so', () => {
  const withoutGateway = diagnoseRuntimes({ codex: { command: '/nonexistent/codex' } }, [], 'none');
  expect(withoutGateway).toHaveLength(1);
  expect(withoutGateway[0]).toMatchObject({ check: 'runtime codex', ok: false });
  expect(withoutGateway[0]!.detail).toContain('/nonexistent/codex cannot be run');
  expect(withoutGateway[0]!.detail).toContain('no model gateway to the OpenAI API');

  // The page a reader follows must not say the opposite (a newcomer read that doctor skipped codex).
  const page = readFileSync(configurationPage, 'utf8');
  const codexParagraph = /^- `codex`:[\s\S]*?(?=\n(?:- |\n))/m.exec(page)?.[0];
  expect(codexParagraph).toBeDefined();
  expect(codexParagraph).not.toMatch(/does not check/);
  expect(codexParagraph).toContain('`cairn doctor` checks it');
  expect(page).toMatch(/for `codex` the same of its binary, and that the\s+model gateway it runs through has an OpenAI provider/);
});
