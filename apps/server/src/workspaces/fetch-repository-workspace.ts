import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest, StorageProviderV1 } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import { runGit, writeWorkspaceSnapshot, type GitRunResult } from '@cairn/protocol/workspace';
import { storeUpload } from '../http/blob-upload.ts';

/** What to fetch: a repository's ref, and the credential its host may be sent (never in the URL). */
export interface RepositoryWorkspaceRequest {
  /** An https:// URL (http:// on loopback), or an absolute path on this machine. */
  readonly repository: string;
  /** A branch, tag or commit id. */
  readonly ref: string;
  readonly credential?: { readonly username: string; readonly token: string } | undefined;
}

/** The fetch's bounds: its history, its time and its size. */
export interface RepositoryWorkspaceLimits {
  /** Commits of history fetched, and carried by the snapshot. */
  readonly history: number;
  readonly timeoutMs: number;
  /** What the fetched objects, the checked-out files and the snapshot may each take (`server.uploadLimitMiB`). */
  readonly maxBytes: number;
}

/** A fetched workspace: the commit the ref named, and its snapshot, stored by digest. */
export interface RepositoryWorkspace {
  readonly commit: string;
  readonly snapshot: Digest;
  /** Files the snapshot holds. */
  readonly entries: number;
}

/** How often the fetch's objects are measured against `maxBytes` while git receives them. */
const sizePollMs = 200;
/** A transfer this slow for this long is abandoned before the overall timeout: the remote has stalled. */
const stallSeconds = 30;

/**
 * Fetches `ref` of a repository with `history` commits of history (a shallow fetch into a fresh
 * repository of its own, with git's hardening and only the remote's protocol, the credential
 * handed to the remote's own host by a helper as @cairn/git-forge does), checks it out and stores
 * the snapshot of that checkout, as `cairn submit --workspace` would have uploaded it (the same
 * tar, with the history the worker turns into the workspace's `.git`). Refusals name the spec's
 * field: an unknown ref is CAIRN_RUN_SPEC_INVALID at `$.workspace.ref`; a repository the
 * credential cannot reach CAIRN_FORGE_UNAUTHORIZED; an unreachable, failing or too slow one
 * CAIRN_FORGE_UNAVAILABLE; one larger than `maxBytes` CAIRN_UPLOAD_TOO_LARGE. Nothing is stored
 * unless the whole snapshot is made; nothing is left on disk.
 */
export async function fetchRepositoryWorkspace(
  storage: StorageProviderV1,
  request: RepositoryWorkspaceRequest,
  limits: RepositoryWorkspaceLimits,
): Promise<RepositoryWorkspace> {
  const { GitRemote } = await import('@cairn/git-forge');
  const folder = await mkdtemp(join(tmpdir(), 'cairn-fetch-'));
  try {
    const work = join(folder, 'work');
    const init = await runGit({ cwd: folder }, ['init', '--quiet', work]);
    if (init.exitCode !== 0) throw new Error(`git init failed: ${init.stderr}`);
    const remote = new GitRemote({
      remote: request.repository,
      username: request.credential?.username ?? 'x-access-token',
      token: request.credential?.token,
      stallSeconds,
    });
    const fetched = await boundedFetch(folder, limits, (signal) =>
      remote.run(
        { cwd: work },
        [
          // A redirect would take the fetch where workspaces.repositories was not asked about.
          ...['-c', 'http.followRedirects=false'],
          ...['fetch', '--quiet', '--no-tags', '--no-recurse-submodules', `--depth=${limits.history}`, '--end-of-options', remote.url, request.ref],
        ],
        { signal },
      ),
    );
    if (fetched.exitCode !== 0) throw fetchFailure(request, fetched);
    const resolved = await runGit({ cwd: work }, ['rev-parse', '--verify', '--quiet', 'FETCH_HEAD^{commit}']);
    const commit = resolved.stdout.toString().trim();
    if (resolved.exitCode !== 0 || !/^[0-9a-f]{40}$/.test(commit))
      throw new CairnError(
        'CAIRN_RUN_SPEC_INVALID',
        `$.workspace.ref ${JSON.stringify(request.ref)} of ${request.repository} names no commit (a tag of a tree or a blob?): name a branch, a tag of a commit, or a commit.`,
        {
          path: '$.workspace.ref',
        },
      );
    // The files a checkout would write, before writing them: a small pack can hold large files.
    const listed = await runGit({ cwd: work }, ['ls-tree', '-r', '-l', '-z', commit]);
    const treeBytes = listed.stdout
      .toString('utf8')
      .split('\0')
      .reduce((sum, line) => sum + (Number.parseInt(line.split(/\s+/)[3] ?? '', 10) || 0), 0);
    if (treeBytes > limits.maxBytes) throw tooLarge(request, `its files at ${commit} take ${treeBytes} bytes`, limits);
    const checkout = await runGit({ cwd: work }, ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', commit]);
    if (checkout.exitCode !== 0) throw new Error(`git checkout of ${commit} failed: ${checkout.stderr}`);
    const tar = join(folder, 'snapshot.tar');
    const written = await writeWorkspaceSnapshot(work, createWriteStream(tar, { mode: 0o600 }), { history: limits.history });
    if (written.bytes > limits.maxBytes) throw tooLarge(request, `its snapshot at ${commit} takes ${written.bytes} bytes`, limits);
    const stored = await storeUpload(storage, createReadStream(tar), {
      announcedDigest: written.digest,
      contentLength: String(written.bytes),
      limitBytes: limits.maxBytes,
    });
    return { commit, snapshot: stored.digest, entries: written.entries };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/**
 * Runs the fetch, stopping git once it has taken `timeoutMs` or its objects pass `maxBytes` (git
 * has neither bound: it would fill the disk or hang on a remote that trickles).
 */
async function boundedFetch(folder: string, limits: RepositoryWorkspaceLimits, fetch: (signal: AbortSignal) => Promise<GitRunResult>): Promise<GitRunResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort('timed-out'), limits.timeoutMs);
  let measuring = false;
  const poll = setInterval(() => {
    if (measuring) return;
    measuring = true;
    // folderBytes never rejects (what it cannot read counts 0).
    void folderBytes(join(folder, 'work', '.git', 'objects'))
      .then((bytes) => {
        if (bytes > limits.maxBytes) controller.abort('too-large');
      })
      .finally(() => {
        measuring = false;
      });
  }, sizePollMs);
  try {
    return await fetch(controller.signal);
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    const reason = controller.signal.reason as 'timed-out' | 'too-large';
    throw new CairnError(
      reason === 'timed-out' ? 'CAIRN_FORGE_UNAVAILABLE' : 'CAIRN_UPLOAD_TOO_LARGE',
      reason === 'timed-out'
        ? `Fetching the workspace took longer than ${limits.timeoutMs} ms (workspaces.fetchTimeout) and was abandoned; nothing was stored. Retry, name a smaller ref, or raise workspaces.fetchTimeout in the server config.`
        : `The workspace's repository sent more than ${limits.maxBytes} bytes (server.uploadLimitMiB) and the fetch was stopped; nothing was stored. Fetch less history (workspaces.history) or raise server.uploadLimitMiB.`,
      { path: '$.workspace.repository' },
    );
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
  }
}

/** Bytes of the files under `directory` (git's objects: loose ones and packs, temporary ones included). */
async function folderBytes(directory: string): Promise<number> {
  let total = 0;
  const entries = await readdir(directory, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    total += await stat(join(entry.parentPath, entry.name)).then(
      (found) => found.size,
      () => 0,
    );
  }
  return total;
}

/** git's words for a redirect it did not follow. */
const redirected = /returned error: 30[12378]|redirect/i;
/** git's words for a ref the remote does not have. */
const missingRef = /couldn't find remote ref|no such remote ref|not our ref|unadvertised object/i;
/** git's words for refused credentials, or none where they are needed. */
const refusedCredentials = /Authentication failed|could not read (Username|Password)|returned error: 40[13]|Permission denied|Invalid username or password/i;
/** git's words for a repository that is not there, or hidden from the credential (forges answer 404 for both). */
const missingRepository = /Repository not found|does not appear to be a git repository|returned error: 404|not found/i;

/**
 * The CairnError for a fetch git refused, quoting git (whose messages name the URL as the spec
 * wrote it, which carries no credential, and never the token the helper gave).
 */
function fetchFailure(request: RepositoryWorkspaceRequest, result: GitRunResult): CairnError {
  const said = result.stderr || `exit ${result.exitCode}`;
  const details = { repository: request.repository, ref: request.ref, git: said };
  if (missingRef.test(said))
    return new CairnError(
      'CAIRN_RUN_SPEC_INVALID',
      `$.workspace.ref ${JSON.stringify(request.ref)} is not a branch, tag or commit of ${request.repository} (git said: ${said}). Name one the repository has; nothing was stored.`,
      { path: '$.workspace.ref', details },
    );
  if (redirected.test(said))
    return new CairnError(
      'CAIRN_RUN_SPEC_INVALID',
      `$.workspace.repository ${request.repository} answers with a redirect, which the server does not follow (it would fetch from somewhere workspaces.repositories was not asked about; git said: ${said}). Name the repository's own URL; nothing was stored.`,
      { path: '$.workspace.repository', details },
    );
  if (refusedCredentials.test(said) || missingRepository.test(said))
    return new CairnError(
      'CAIRN_FORGE_UNAUTHORIZED',
      `$.workspace.repository ${request.repository} is not a repository this server may read (git said: ${said}). Check the URL, and that the repository is public or the server holds a credential for it; nothing was stored.`,
      { path: '$.workspace.repository', details },
    );
  return new CairnError(
    'CAIRN_FORGE_UNAVAILABLE',
    `$.workspace.repository ${request.repository} could not be fetched: it could not be reached or failed (git said: ${said}). Retry later, and check the address; nothing was stored.`,
    { path: '$.workspace.repository', details },
  );
}

function tooLarge(request: RepositoryWorkspaceRequest, what: string, limits: RepositoryWorkspaceLimits): CairnError {
  return new CairnError(
    'CAIRN_UPLOAD_TOO_LARGE',
    `The workspace fetched from ${request.repository} is too large: ${what}, over the ${limits.maxBytes} bytes this server takes for a workspace (server.uploadLimitMiB). Nothing was stored; raise server.uploadLimitMiB or use a smaller repository.`,
    { path: '$.workspace.repository' },
  );
}
