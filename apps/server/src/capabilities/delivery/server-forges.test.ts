// The forges: section of the server config: each error names its option path (the config's own
// shape, then each forge package's settings when the server starts), a token is never written
// inline, and a secret that is not set is named with what to run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { afterAll, expect, test } from 'vitest';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { ServerForges } from './server-forges.ts';

const directories: string[] = [];
afterAll(() => {
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

function loaded(forges: string) {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-forges-'));
  directories.push(directory);
  writeFileSync(join(directory, 'cairn.config.yaml'), `dataDirectory: ./data\nforges:\n${forges}`);
  return loadServerConfig({ directory, env: {} });
}

const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return { code: (error as CairnError).code, path: (error as CairnError).path, message: (error as CairnError).message };
  }
  return expect.unreachable('accepted');
};

test('the config refuses, at its path, an unknown kind, an inline token and a secret name that is a value', () => {
  expect(refusal(() => loaded('  gitlab: { kind: gitlab, remote: x }\n'))).toMatchObject({ code: 'CAIRN_CONFIG_INVALID', path: 'config.forges.gitlab.kind' });
  expect(refusal(() => loaded('  origin: { kind: git, remote: "https://git.example.com/a.git", token: ghp_123 }\n'))).toMatchObject({
    path: 'config.forges.origin.token',
    message: expect.stringContaining('a token is never written in the config: store it with `cairn secret set NAME`'),
  });
  expect(refusal(() => loaded('  github: { kind: github, repository: acme/app, tokenSecret: "ghp_ab cd" }\n'))).toMatchObject({
    path: 'config.forges.github.tokenSecret',
  });
});

test("each forge's options are checked by its package when the server starts, named config.forges.NAME.<option>; its secret is read when first used", async () => {
  const { config } = loaded(
    '  origin: { kind: git, remote: "http://git.example.com/a.git", tokenSecret: GIT_TOKEN }\n  github: { kind: github, repository: acme/app }\n',
  );
  const error = await ServerForges.load(config.forges, async () => 'unused').catch((caught: unknown) => caught as CairnError);
  expect(error).toMatchObject({ code: 'CAIRN_CONFIG_INVALID', path: 'config.forges.origin.remote' });
  expect((error as CairnError).message).toContain('plain http:// only on loopback');
  const github = await ServerForges.load({ github: config.forges['github']! }, async () => 'unused').catch((caught: unknown) => caught as CairnError);
  expect(github).toMatchObject({ code: 'CAIRN_CONFIG_INVALID', path: 'config.forges.github.token' });

  const good = loaded('  origin: { kind: git, remote: "https://git.example.com/a.git", tokenSecret: GIT_TOKEN }\n');
  const forges = await ServerForges.load(good.config.forges, async (name) => {
    throw new CairnError('CAIRN_SECRET_UNAVAILABLE', `No secret ${name}.`);
  });
  expect(forges.names).toEqual(['origin']);
  await expect(forges.forge('origin')).rejects.toMatchObject({
    code: 'CAIRN_SECRET_UNAVAILABLE',
    path: 'config.forges.origin.tokenSecret',
    message: 'config.forges.origin.tokenSecret names the server secret GIT_TOKEN, which is not set or cannot be opened: `cairn secret set GIT_TOKEN`.',
  });
  await expect(forges.forge('gitlab')).rejects.toMatchObject({ code: 'CAIRN_NOT_FOUND' });
});
