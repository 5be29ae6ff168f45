// The server's fetch of a run's workspace from a git repository, against a real git server on
// loopback (`git http-backend` with basic auth, git-forge's test support) and real git: the
// snapshot holds the ref's files and the history asked, and each refusal is the one named.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalStorageProvider } from '@cairn/local';
import { blobKey, isCairnError } from '@cairn/protocol';
import { historyMemberNames, readTar } from '@cairn/protocol/workspace';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startGitHttpServer, type GitHttpServer } from '../../../../packages/git-forge/src/git-http-server.test-support.ts';
import { fetchRepositoryWorkspace, type RepositoryWorkspaceLimits } from './fetch-repository-workspace.ts';
import { serveNotesHistory } from './served-history.test-support.ts';

const credential = { username: 'cairn', token: 'fetch-token-5f3c9a' };
const limits: RepositoryWorkspaceLimits = { history: 2, timeoutMs: 30_000, maxBytes: 16 * 1024 * 1024 };
let server: GitHttpServer;
let scratch: string;
/** The three commits of `main`, newest first. */
let commits: string[];

beforeAll(async () => {
  server = await startGitHttpServer({ username: credential.username, password: credential.token });
  scratch = mkdtempSync(join(tmpdir(), 'cairn-fetch-test-'));
  commits = await serveNotesHistory(server, scratch);
});
afterAll(async () => {
  await server.close();
  rmSync(scratch, { recursive: true, force: true });
});

function storage() {
  return createLocalStorageProvider({ root: mkdtempSync(join(scratch, 'storage-')) });
}

async function refusal(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof Error)) throw new Error('expected a refusal');
  return error;
}

test("a branch over HTTP with basic auth: its tip's files, and as many commits of history as asked, stored by digest", async () => {
  const store = storage();
  const fetched = await fetchRepositoryWorkspace(store, { repository: server.url('app'), ref: 'main', credential }, limits);
  expect(fetched.commit).toBe(commits[0]);
  const members = readTar((await store.get(blobKey(fetched.snapshot)))!);
  const text = (path: string) => Buffer.from((members.find((member) => member.path === path) as { content: Uint8Array }).content).toString('utf8');
  expect(members.map((member) => member.path)).toEqual(['notes.txt', historyMemberNames.head, historyMemberNames.shallow, historyMemberNames.pack]);
  expect(text('notes.txt')).toBe('version 3\n');
  expect(text(historyMemberNames.head)).toBe(`${commits[0]}\n`);
  // Two commits asked: the second is where history is cut.
  expect(text(historyMemberNames.shallow)).toBe(`${commits[1]}\n`);
  // A tag names its commit; the same commit fetched twice is the same snapshot.
  const tagged = await fetchRepositoryWorkspace(store, { repository: server.url('app'), ref: 'v1', credential }, limits);
  expect(tagged.commit).toBe(commits[2]);
  expect((await fetchRepositoryWorkspace(store, { repository: server.url('app'), ref: 'main', credential }, limits)).snapshot).toBe(fetched.snapshot);
  // A commit id is a ref too: the same commit, the same snapshot, whatever the branch does since.
  expect(await fetchRepositoryWorkspace(store, { repository: server.url('app'), ref: commits[0]!, credential }, limits)).toMatchObject({
    commit: commits[0],
    snapshot: fetched.snapshot,
  });
});

test('refusals name the field and store nothing: an unknown ref, refused credentials, an unreachable host, a repository too large, a fetch too slow', async () => {
  const store = storage();
  const unknownRef = await refusal(fetchRepositoryWorkspace(store, { repository: server.url('app'), ref: 'no-such-branch', credential }, limits));
  expect(isCairnError(unknownRef, 'CAIRN_RUN_SPEC_INVALID')).toBe(true);
  expect(unknownRef).toMatchObject({ path: '$.workspace.ref' });
  expect(unknownRef.message).toContain('"no-such-branch" is not a branch, tag or commit of');

  const wrongToken = { username: credential.username, token: 'wrong-token-81d2e7' };
  for (const given of [undefined, wrongToken]) {
    const refused = await refusal(fetchRepositoryWorkspace(store, { repository: server.url('app'), ref: 'main', credential: given }, limits));
    expect(isCairnError(refused, 'CAIRN_FORGE_UNAUTHORIZED'), refused.message).toBe(true);
    expect(refused).toMatchObject({ path: '$.workspace.repository' });
    // Neither token appears in what a client or a log is shown.
    expect(JSON.stringify({ message: refused.message, details: (refused as { details?: unknown }).details })).not.toMatch(/fetch-token|wrong-token/);
  }

  // A repository that moved (a redirect) is not followed: the server fetches only where it was asked to.
  const redirecting = createServer((request, response) => {
    response.writeHead(301, { location: `${server.url('app')}${(request.url ?? '').replace(/^\/moved\.git/, '')}` });
    response.end();
  });
  await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
  const moved = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/moved.git`;
  const redirected = await refusal(fetchRepositoryWorkspace(store, { repository: moved, ref: 'main', credential }, limits));
  await new Promise((resolve) => redirecting.close(resolve));
  expect(isCairnError(redirected, 'CAIRN_RUN_SPEC_INVALID'), redirected.message).toBe(true);
  expect(redirected.message).toContain('answers with a redirect, which the server does not follow');

  const unreachable = await refusal(fetchRepositoryWorkspace(store, { repository: 'http://127.0.0.1:9/nothing.git', ref: 'main' }, limits));
  expect(isCairnError(unreachable, 'CAIRN_FORGE_UNAVAILABLE'), unreachable.message).toBe(true);
  expect(unreachable.message).toContain('$.workspace.repository http://127.0.0.1:9/nothing.git could not be fetched');

  const tooLarge = await refusal(fetchRepositoryWorkspace(store, { repository: server.url('app'), ref: 'main', credential }, { ...limits, maxBytes: 5 }));
  expect(isCairnError(tooLarge, 'CAIRN_UPLOAD_TOO_LARGE'), tooLarge.message).toBe(true);
  expect(tooLarge.message).toContain('server.uploadLimitMiB');

  const tooSlow = await refusal(fetchRepositoryWorkspace(store, { repository: server.url('app'), ref: 'main', credential }, { ...limits, timeoutMs: 1 }));
  expect(isCairnError(tooSlow, 'CAIRN_FORGE_UNAVAILABLE'), tooSlow.message).toBe(true);
  expect(tooSlow.message).toContain('workspaces.fetchTimeout');

  expect((await store.list({ prefix: 'blobs/' })).keys).toEqual([]);
});
