export { assertBranchName, assertPushRequest } from './assert-push-request.ts';
export { createGitForge, GitForge } from './git-forge.ts';
export { commitAuthorSchema, gitForgeSettingsSchema } from './git-forge-settings.ts';
export type { GitForgeSettings } from './git-forge-settings.ts';
export { GitRemote } from './git-remote.ts';
export type { GitRemoteAccess } from './git-remote.ts';
export const VERSION = '0.1.0';
