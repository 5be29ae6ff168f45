// The README's main command does what it says: runs the demo run over the sample repository in
// bubblewrap sandboxes (against the built packages), reuses the pure check on the second run,
// verifies the evidence, and catches the edited copy. `scripts/demo.sh` is setup + this script.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { repositoryRoot } from './support/workspace.ts';

test('the demo runs sandboxed items, reuses the pure check, and verifies its evidence (and refuses an edited copy)', { timeout: 60_000 }, () => {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  const output = execFileSync(process.execPath, [join(repositoryRoot, 'scripts', 'demo.mjs')], { encoding: 'utf8', env });
  expect(output).toContain('refused, ');
  expect(output.match(/^run succeeded in \d+ ms$/gm)).toHaveLength(2);
  expect(output).toMatch(/edit-alpha {3}src\/alpha\.ts {2}\+1 -0/);
  expect(output).toContain('verify was not run again');
  // Where the machine can sandbox (root and bubblewrap, as CI), every manifest says so.
  const sandboxed = existsSync('/usr/bin/bwrap') && process.getuid?.() === 0;
  expect(output).toContain(`signed manifests (isolation: ${sandboxed ? 'bubblewrap' : 'none'})`);
  expect(output.match(/^valid: (true|false), claim: tamper-detecting$/gm)).toEqual(['valid: true, claim: tamper-detecting', 'valid: false, claim: tamper-detecting']);
  expect(output).toMatch(/pass {8}anchor {15}read live/);
});
