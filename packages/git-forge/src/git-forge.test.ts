import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, chmod, unlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import type { ForgeBranchPush, ForgeV1 } from '@cairn/core';
import { describeForge } from '@cairn/conformance';
import { isCairnError } from '@cairn/protocol';
import { createGitForge, type GitForge } from './git-forge.ts';
import { bareRepositoryOracle, git, startGitHttpServer } from './git-http-server.test-support.ts';

const username = 'cairn-bot';
const password = 'correct horse battery staple';
const evidence = `sha256:${'ab'.repeat(32)}` as const;
const server = await startGitHttpServer({ username, password });
afterAll(() => server.close());

let repositories = 0;
const repositoryOf = new WeakMap<GitForge, string>();

/** A forge over a new empty repository on the server. */
async function forgeOnNewRepository(
  settings: { token?: string; username?: string } = { token: password, username },
): Promise<{ forge: GitForge; name: string }> {
  repositories += 1;
  const name = `repository-${repositories}`;
  await server.createRepository(name);
  const forge = createGitForge({ remote: server.url(name), ...settings });
  repositoryOf.set(forge, name);
  return { forge, name };
}

function delivery(base: string, patch: string | Uint8Array, overrides: Partial<ForgeBranchPush> = {}): ForgeBranchPush {
  return {
    branch: 'cairn/delivered',
    base,
    patch: typeof patch === 'string' ? Buffer.from(patch) : patch,
    message: 'Deliver a run',
    runId: 'run-git-1',
    evidenceDigest: evidence,
    ...overrides,
  };
}

const addNotes = ['diff --git a/notes.txt b/notes.txt', 'new file mode 100644', '--- /dev/null', '+++ b/notes.txt', '@@ -0,0 +1 @@', '+notes', ''].join('\n');

// The contract is checked over a local path to the served repositories: the forge's logic is the
// same for every transport, and each push over HTTP adds a few CGI round trips (the suite took 25 s
// over HTTP against 15 s over a path on a loaded 2-core machine). What HTTP adds (basic auth, git's
// answers over the wire, the server's compare-and-swap of the ref) is tested over HTTP below.
describeForge({
  name: 'git to a local path (the repositories git http-backend serves)',
  create: async () => {
    const { name } = await forgeOnNewRepository();
    const forge = createGitForge({ remote: server.path(name) });
    repositoryOf.set(forge, name);
    return forge;
  },
  createBase: (forge, files) => server.commit(repositoryOf.get(forge)!, files),
  oracle: (forge) => bareRepositoryOracle(server.path(repositoryOf.get(forge)!)),
});

describe('git forge', () => {
  test('over HTTP: the served repository’s git log shows the pushed commit and its trailers; a new patch replaces it (force-with-lease)', async () => {
    const { forge, name } = await forgeOnNewRepository();
    const base = await server.commit(name, { 'README.md': 'hello\n' });
    const first = await forge.pushBranch(delivery(base, addNotes, { message: 'Deliver a run\n\nWith a body.' }));
    const log = (): Promise<string> =>
      git(server.path(name), [
        'log',
        '--format=%H %P%n%an <%ae>%n%B%n--%n%(trailers:key=Cairn-Run,valueonly)%(trailers:key=Cairn-Evidence,valueonly)',
        'cairn/delivered',
      ]);
    expect(await log()).toBe(
      `${first.commit} ${base}\nCairn <cairn@cairn.invalid>\nDeliver a run\n\nWith a body.\n\nCairn-Run: run-git-1\nCairn-Evidence: ${evidence}\n\n--\nrun-git-1\n${evidence}\n\n` +
        `${base} \nSeed <seed@test.invalid>\nbase\n\n--\n\n`,
    );
    const second = await forge.pushBranch(delivery(base, addNotes.replace('+notes', '+better notes'), { runId: 'run-git-2', expectedTip: first.commit }));
    expect({ outcome: second.outcome, previous: second.previous }).toEqual({ outcome: 'updated', previous: first.commit });
    expect(await log(), 'one commit on the base, the old one gone from the branch').toMatch(
      new RegExp(`^${second.commit} ${base}\n[^]*\n--\nrun-git-2\n${evidence}\n\n${base} \n`),
    );
    expect(await git(server.path(name), ['show', 'cairn/delivered:notes.txt'])).toBe('better notes\n');
    await expect(forge.pushBranch(delivery('0'.repeat(40), addNotes)), 'a base the server does not have').rejects.toMatchObject({
      code: 'CAIRN_FORGE_PATCH_INVALID',
      message: expect.stringContaining(`the base commit ${'0'.repeat(40)} is not on ${server.url(name)}`),
    });
  });

  test('a wrong password is refused with CAIRN_FORGE_UNAUTHORIZED naming the remote, never the token; nothing is pushed', async () => {
    const { name } = await forgeOnNewRepository();
    const base = await server.commit(name, { 'README.md': 'hello\n' });
    const wrong = createGitForge({ remote: server.url(name), username, token: 'not the password' });
    const error = await wrong.pushBranch(delivery(base, addNotes)).catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_FORGE_UNAUTHORIZED'), String(error)).toBe(true);
    const text = `${(error as Error).message} ${JSON.stringify(error)}`;
    expect(text).toContain(server.url(name));
    expect(text).toMatch(/refused the credentials.*check the token/);
    expect(text).not.toContain('not the password');
    await expect(createGitForge({ remote: server.url(name) }).readBranch('main'), 'no token at all').rejects.toMatchObject({
      code: 'CAIRN_FORGE_UNAUTHORIZED',
    });
    expect(await bareRepositoryOracle(server.path(name)).readBranch('cairn/delivered')).toBeNull();
  });

  test('a branch moved between the forge’s read and its push is kept: the lease refuses the push (CAIRN_FORGE_CONFLICT)', async () => {
    const { forge, name } = await forgeOnNewRepository();
    const base = await server.commit(name, { 'README.md': 'hello\n' });
    const first = await forge.pushBranch(delivery(base, addNotes));
    const theirs = await server.commit(name, { 'theirs.txt': 'pushed by someone else\n' });
    // Someone pushes after the forge read the tip (ls-remote) and before its own push lands.
    server.beforePush = () => bareRepositoryOracle(server.path(name)).setBranch('cairn/delivered', theirs);
    try {
      const second = delivery(base, addNotes.replace('+notes', '+other notes'));
      await expect(forge.pushBranch(second)).rejects.toMatchObject({ code: 'CAIRN_FORGE_CONFLICT' });
    } finally {
      server.beforePush = undefined;
    }
    expect(first.outcome).toBe('created');
    expect(await bareRepositoryOracle(server.path(name)).readBranch('cairn/delivered'), 'their commit stays').toBe(theirs);
  });

  test('a worker’s git diff --binary (binary file, deletion, executable bit, symbolic link) arrives as it was captured', async () => {
    const { forge, name } = await forgeOnNewRepository();
    const base = await server.commit(name, { 'README.md': 'hello\n', 'old.txt': 'to delete\n', 'run.sh': 'echo hi\n' });
    const work = await mkdtemp(join(tmpdir(), 'cairn-git-forge-work-'));
    try {
      await git(work, ['clone', '--quiet', server.path(name), '.']);
      await git(work, ['checkout', '--quiet', base]);
      await writeFile(join(work, 'image.bin'), Buffer.from([0, 1, 2, 255, 0, 13, 10]));
      await unlink(join(work, 'old.txt'));
      await chmod(join(work, 'run.sh'), 0o755);
      await promisify(execFile)('ln', ['-s', 'README.md', join(work, 'link')]);
      await git(work, ['add', '--all']);
      const patch = await git(work, ['diff', '--cached', '--binary', base]);
      const expectedTree = (await git(work, ['write-tree'])).trim();
      const pushed = await forge.pushBranch(delivery(base, patch));
      expect((await git(server.path(name), ['rev-parse', `${pushed.commit}^{tree}`])).trim(), 'the same tree as the worker’s').toBe(expectedTree);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  test('a local path remote needs no credentials; an unreachable remote is CAIRN_FORGE_UNAVAILABLE', async () => {
    const { name } = await forgeOnNewRepository();
    const base = await server.commit(name, { 'README.md': 'hello\n' });
    const local = createGitForge({ remote: server.path(name) });
    const pushed = await local.pushBranch(delivery(base, addNotes, { branch: 'cairn/local' }));
    expect(pushed.outcome).toBe('created');
    expect(await bareRepositoryOracle(server.path(name)).readBranch('cairn/local')).toBe(pushed.commit);

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = createGitForge({ remote: `http://127.0.0.1:${port}/nothing.git`, token: password });
    await expect(unreachable.pushBranch(delivery(base, addNotes))).rejects.toMatchObject({
      code: 'CAIRN_FORGE_UNAVAILABLE',
      message: expect.stringContaining(`127.0.0.1:${port}`),
    });
  });

  test('settings: an https URL or an absolute path, plain http only on loopback, no credentials in the URL, a token only for http(s)', () => {
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ remote: 'http://git.example.com/repo.git', token: 't' }, /"git-forge.remote" must be https:\/\/ \(plain http:\/\/ only on loopback/],
      [{ remote: 'https://user:secret@git.example.com/repo.git' }, /"git-forge.remote" must not carry credentials/],
      [{ remote: 'relative/repo.git' }, /"git-forge.remote" must be an https:\/\/ URL of a git repository or an absolute path/],
      [{ remote: 'ssh://git.example.com/repo.git' }, /"git-forge.remote" must be an https:\/\/ URL or an absolute path, not ssh:/],
      [{ remote: '/srv/repo.git', token: 't' }, /"git-forge.token" is sent only to an http\(s\) remote/],
      [{ remote: 'https://git.example.com/repo.git', surprise: true }, /"git-forge.surprise" is not an option here/],
    ];
    for (const [settings, message] of refused) {
      expect(() => createGitForge(settings as never), JSON.stringify(settings)).toThrow(message);
    }
    const forge = createGitForge({ remote: 'https://git.example.com/repo.git', token: 't' });
    expect({ provider: forge.provider, capabilities: forge.capabilities, username: forge.settings.username }).toEqual({
      provider: 'git',
      capabilities: { changeRequests: false },
      username: 'x-access-token',
    });
    expect((forge as ForgeV1).openChangeRequest).toBeUndefined();
  });
});
