export { AttemptWorkspace } from './git/attempt-workspace.ts';
export type { AttemptWorkspacePreparation } from './git/attempt-workspace.ts';
export { capturePatch } from './patch/capture-patch.ts';
export type { CapturedPatch, CapturePatchOptions, PatchRefusalRule } from './patch/capture-patch.ts';
export type { RawDiffEntry } from './git/raw-diff.ts';
// Snapshots moved to @cairn/protocol/workspace (a client snapshots without the worker); kept here by name for existing importers.
export { readTar, snapshotWorkspace, writeTar } from '@cairn/protocol/workspace';
export type { TarEntry, TarMember, WorkspaceSnapshot } from '@cairn/protocol/workspace';
export { commandRuntimeSettingsSchema, CommandRuntime, createCommandRuntime } from './runtime/command-runtime.ts';
export type { CommandLaunch, CommandLaunchContext, CommandLauncher, CommandRunResult, CommandRuntimeSettings } from './runtime/command-runtime.ts';
export { createWorker, Worker, workerSettingsSchema } from './worker/worker.ts';
export type { WorkerSettings } from './worker/worker.ts';
export type { AttemptFolders, AttemptMounts } from './worker/attempt-mounts.ts';
export { claudeCodeRuntimeSettingsSchema, ClaudeCodeRuntime, createClaudeCodeRuntime } from './runtime/agents/claude-code-runtime.ts';
export type { ClaudeCodeRuntimeSettings } from './runtime/agents/claude-code-runtime.ts';
export { openAiCompatibleRuntimeSettingsSchema, OpenAiCompatibleRuntime, createOpenAiCompatibleRuntime } from './runtime/agents/openai-compatible-runtime.ts';
export type { OpenAiCompatibleRuntimeSettings } from './runtime/agents/openai-compatible-runtime.ts';
export const VERSION = '0.1.0';
