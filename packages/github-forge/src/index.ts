export { createGitHubForge, GitHubForge } from './github-forge.ts';
export type { GitHubFailedJob, GitHubGitAccess, GitHubReaction, GitHubRepositoryPermission, GitHubReview } from './github-forge.ts';
export { gitHubForgeSettingsSchema } from './github-forge-settings.ts';
export type { GitHubForgeSettings } from './github-forge-settings.ts';
export const VERSION = '0.1.0';
