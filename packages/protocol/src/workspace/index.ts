export { snapshotWorkspace } from './snapshot-workspace.ts';
export type { WorkspaceSnapshot } from './snapshot-workspace.ts';
export { readTar } from './read-tar.ts';
export { writeTar } from './write-tar.ts';
export type { TarEntry, TarMember } from './tar-entry.ts';
export { isGitMetadataName, workspacePathProblem } from './workspace-path.ts';
export { gitOutput, runGit } from './run-git.ts';
export type { GitLocation, GitRunOptions, GitRunResult } from './run-git.ts';
