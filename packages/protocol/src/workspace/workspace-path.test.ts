// Which workspace paths a snapshot refuses, as a table: plain paths (told in one scan) and the
// ones that need each segment looked at, git metadata in every spelling some file system reads
// as `.git` among them.
import { expect, test } from 'vitest';
import { isGitMetadataName, workspacePathProblem } from './workspace-path.ts';

test.each([
  ['src/a.ts', undefined],
  ['README.md', undefined],
  ['src/graph/gitlab.ts', undefined],
  ['.gitignore', undefined],
  ['a/.github/workflows/ci.yml', undefined],
  ['a/.eslintrc', undefined],
  ['é/ü.txt', undefined],
  ['a/git~x', undefined],
  ['', 'is empty'],
  ['a\0b', 'contains a NUL byte'],
  ['/etc/passwd', 'is absolute'],
  ['a//b', 'has an empty segment'],
  ['a/', 'has an empty segment'],
  ['./a', 'has a "." segment'],
  ['a/../b', 'has a ".." segment'],
  ['.git/config', 'is inside git metadata (".git")'],
  ['a/.GIT/config', 'is inside git metadata (".GIT")'],
  ['a/.git. /config', 'is inside git metadata (".git. ")'],
  ['a/.g\u200cit/config', 'is inside git metadata (".g\u200cit")'],
  ['a/\ufeff.git/config', 'is inside git metadata ("\ufeff.git")'],
  ['a/GIT~1/config', 'is inside git metadata ("GIT~1")'],
  ['src/git~12', 'is inside git metadata ("git~12")'],
])('%j: %s', (path, problem) => {
  expect(workspacePathProblem(path)).toBe(problem);
});

test.each([
  ['.git', true],
  ['.Git..', true],
  ['\u200d.git', true],
  ['git~3', true],
  ['.gitignore', false],
  ['xgit~1', false],
  ['a.git', false],
  ['', false],
])('%j is git metadata: %s', (segment, metadata) => {
  expect(isGitMetadataName(segment)).toBe(metadata);
});
