// The run spec's `workspace` from a git repository: what may be named, and each refusal at its path.
import { expect, test } from 'vitest';
import { issuesOf, sampleSpec } from './run-spec.test-support.ts';
import { validateRunSpec } from './validate-run-spec.ts';

const commit = 'a'.repeat(40);
const snapshot = `sha256:${'b'.repeat(64)}`;
const withWorkspace = (workspace: Record<string, unknown>) => ({ ...sampleSpec(), workspace });

test("a repository (a URL, a path, a forge's name) and a ref (what a person writes), and with the commit and snapshot the server fills in, are valid", () => {
  for (const workspace of [
    { repository: 'https://git.example.com/org/repo.git', ref: 'main' },
    { repository: 'https://git.example.com/org/repo', ref: 'refs/heads/release/2.x' },
    { repository: 'http://127.0.0.1:8080/repo.git', ref: 'v1.2.0' },
    { repository: '/srv/mirrors/repo.git', ref: commit },
    { repository: 'origin', ref: 'main' },
    { repository: 'https://git.example.com/org/repo.git', ref: 'main', commit, snapshot },
  ])
    expect(validateRunSpec(withWorkspace(workspace)).ok, JSON.stringify(workspace)).toBe(true);
});

test('each refusal names its field: URLs git would misuse or leak, refs that are options or refspecs, fields without a repository', () => {
  const refused = (workspace: Record<string, unknown>) => issuesOf(withWorkspace(workspace)).map((issue) => `${issue.path}: ${issue.message}`);
  expect(refused({ repository: 'ftp://git.example.com/repo.git', ref: 'main' })).toEqual([
    '$.workspace.repository: must be an https:// URL of a git repository, not ftp:.',
  ]);
  expect(refused({ repository: 'https://user:token@git.example.com/repo.git', ref: 'main' })).toEqual([
    "$.workspace.repository: must not carry credentials: the server's config holds them.",
  ]);
  expect(refused({ repository: 'http://git.example.com/repo.git', ref: 'main' })).toEqual([
    '$.workspace.repository: must be https:// (plain http:// only on loopback).',
  ]);
  expect(refused({ repository: 'ext::sh -c touch% /tmp/x', ref: 'main' })).toEqual([
    '$.workspace.repository: must be an https:// URL of a git repository, not ext:.',
  ]);
  expect(refused({ repository: 'relative/repo', ref: 'main' })).toEqual([
    '$.workspace.repository: must be the https:// URL of a git repository (https://github.com/org/repo.git) or the name of a forge of the server (forges: in its config).',
  ]);
  for (const ref of ['--upload-pack=evil', '+main', 'main:refs/heads/x', 'a..b', 'a//b', 'main/', 'a b', 'main.lock'])
    expect(
      refused({ repository: 'https://git.example.com/repo.git', ref }).map((line) => line.split(':')[0]),
      ref,
    ).toEqual(['$.workspace.ref']);
  expect(refused({ repository: 'https://git.example.com/repo.git' })).toEqual([
    '$.workspace.ref: must name the branch, tag or commit of `repository` to fetch (ref: main).',
  ]);
  expect(refused({ path: './repo', ref: 'main' })).toEqual(['$.workspace.ref: names a branch, tag or commit of `repository`, which is not set.']);
  expect(refused({ repository: 'https://git.example.com/repo.git', ref: 'main', path: './repo' })).toEqual([
    '$.workspace.path: cannot be given with `repository`: the workspace comes from one or the other.',
  ]);
  expect(refused({ repository: 'https://git.example.com/repo.git', ref: 'main', snapshot })).toEqual([
    '$.workspace.commit: must be set with `snapshot` and `repository`: the server writes both when it fetches.',
  ]);
  expect(refused({ repository: 'https://git.example.com/repo.git', ref: 'main', commit: 'abc' })).toEqual([
    '$.workspace.commit: must be a full commit id (40 lowercase hex digits).',
  ]);
});
