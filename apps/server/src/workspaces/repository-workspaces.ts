import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { RunSpecV1, StorageProviderV1 } from '@cairn/core';
import type { EngineService, ScheduleDefinition, SubmitOptions } from '@cairn/engine';
import { assertRunSpec, CairnError, isCairnError, parseDuration, parseRunSpec } from '@cairn/protocol';
import { fetchRepositoryWorkspace } from './fetch-repository-workspace.ts';
import type { ServerForges } from '../capabilities/delivery/server-forges.ts';
import type { RepositoryWorkspaceRequest } from './fetch-repository-workspace.ts';
import type { WorkspacesConfig } from './workspaces-config-schema.ts';

export interface RepositoryWorkspacesSettings {
  readonly storage: StorageProviderV1;
  readonly config: WorkspacesConfig;
  /** The forges of the server config (none without `forges:`): a repository may name one, whose remote and credential are then used. */
  readonly forges: ServerForges | undefined;
  /** The largest workspace (`server.uploadLimitMiB`), fetched as uploaded. */
  readonly maxBytes: number;
}

/**
 * The engine's service, with runs whose spec names `workspace: { repository, ref }` fetched when
 * they are submitted, whatever submits them (the API, a template, a trigger): the spec is checked
 * first (a bad one fetches nothing), the repository against `workspaces.repositories`, then the
 * ref is fetched and stored as a snapshot, and the engine receives the spec with the `commit` the
 * ref named and that `snapshot` filled in, so the run's stored spec, its digest and its submission's
 * audit entry say what it ran on. A fetch that fails refuses the run; nothing is stored then.
 * A schedule naming a repository is checked the same way when it is added (nothing is fetched
 * then); each of its slots is fetched when due, by the engine through `fetchScheduledWorkspace`.
 * Every other call goes to the engine's service as it is.
 */
export function withRepositoryWorkspaces(service: EngineService, settings: RepositoryWorkspacesSettings): EngineService {
  const submit = async (document: unknown, options: SubmitOptions) => {
    const parsed = typeof document === 'string' ? parseRunSpec(document, options.source === undefined ? {} : { source: options.source }) : document;
    if (repositoryWorkspaceOf(parsed) === undefined) return service.submit(document, options);
    return service.submit(await fetchedSpec(parsed, settings, options.source), options);
  };
  const addSchedule = async (definition: ScheduleDefinition, actor: Parameters<EngineService['addSchedule']>[1]) => {
    const spec = typeof definition.spec === 'string' ? parseRunSpec(definition.spec) : definition.spec;
    if (repositoryWorkspaceOf(spec) !== undefined) await checkedRepository(spec, settings);
    return service.addSchedule(definition, actor);
  };
  // A proxy, not a copy: the service's getters (hostAudit, modelCalls) and methods stay the engine's own.
  return new Proxy(service, {
    get(target, property) {
      if (property === 'submit') return submit;
      if (property === 'addSchedule') return addSchedule;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * A schedule slot's spec with its workspace fetched (the engine's `fetchWorkspace`): checked and
 * fetched as a submitted one is, when the slot is due. A refusal is the slot's failure, which the
 * engine audits (`schedule.fired`, outcome failure, with the code and message).
 */
export function fetchScheduledWorkspace(spec: RunSpecV1, settings: RepositoryWorkspacesSettings): Promise<RunSpecV1> {
  return fetchedSpec(spec, settings, "The schedule's spec");
}

/** A parsed spec naming a repository, checked, with its ref fetched and `commit` and `snapshot` filled in. */
async function fetchedSpec(parsed: unknown, settings: RepositoryWorkspacesSettings, source: string | undefined): Promise<RunSpecV1> {
  const { repository, ref, forge } = await checkedRepository(parsed, settings, source);
  const fetched = await fetchRepositoryWorkspace(
    settings.storage,
    forge ? { ...(await forgeAccess(repository, settings.forges!)), ref } : { repository, ref },
    { history: settings.config.history, timeoutMs: parseDuration(settings.config.fetchTimeout), maxBytes: settings.maxBytes },
  );
  return { ...(parsed as RunSpecV1), workspace: { repository, ref, commit: fetched.commit, snapshot: fetched.snapshot } };
}

/**
 * The spec checked (a bad one fetches nothing), then its repository: a forge of the config by
 * name, or a URL or path starting with one of `workspaces.repositories`; `commit` and `snapshot`
 * are the server's to write.
 */
async function checkedRepository(
  parsed: unknown,
  settings: RepositoryWorkspacesSettings,
  source?: string,
): Promise<{ readonly repository: string; readonly ref: string; readonly forge: boolean }> {
  const { spec } = assertRunSpec(parsed, source === undefined ? {} : { source });
  // The spec's shape says a repository comes with a ref.
  const { repository = '', ref = '', commit, snapshot } = spec.workspace ?? {};
  if (commit !== undefined || snapshot !== undefined)
    throw new CairnError(
      'CAIRN_RUN_SPEC_INVALID',
      `$.workspace.${commit !== undefined ? 'commit' : 'snapshot'} is written by the server when it fetches $.workspace.repository, never by the submitter (it is what a verifier reads the run ran on). Leave it out: name the repository and the ref.`,
      { path: `$.workspace.${commit !== undefined ? 'commit' : 'snapshot'}` },
    );
  const forge = namesForge(repository, settings.forges);
  const where = forge ? repository : await comparableLocation(repository);
  if (!forge && !settings.config.repositories.some((prefix) => where.startsWith(prefix)))
    throw new CairnError(
      'CAIRN_RUN_SPEC_INVALID',
      `$.workspace.repository ${repository} is not one this server fetches from: it takes repositories starting with ${settings.config.repositories.map((prefix) => JSON.stringify(prefix)).join(', ') || 'nothing (none are listed)'} (workspaces.repositories in the server config). Name one of those, or upload a snapshot instead.`,
      { path: '$.workspace.repository', details: { repository, allowed: settings.config.repositories } },
    );
  return { repository, ref, forge };
}

/** The `workspace` of a parsed spec when it names a repository (before the spec is checked). */
function repositoryWorkspaceOf(document: unknown): object | undefined {
  if (typeof document !== 'object' || document === null) return undefined;
  const workspace = (document as { workspace?: unknown }).workspace;
  if (typeof workspace !== 'object' || workspace === null || !('repository' in workspace)) return undefined;
  return workspace;
}

/**
 * Whether a repository names a forge (a name rather than a URL or a path); a name the config does
 * not have is refused, listing the ones it has.
 */
function namesForge(repository: string, forges: ServerForges | undefined): boolean {
  if (repository.startsWith('/') || repository.includes(':')) return false;
  const names = forges?.names ?? [];
  if (names.includes(repository)) return true;
  throw new CairnError(
    'CAIRN_RUN_SPEC_INVALID',
    `$.workspace.repository ${JSON.stringify(repository)} is neither a URL nor a forge of this server (forges: has ${names.join(', ') || 'none'}). Give the repository's https:// URL, or the name of a forge in the server config.`,
    { path: '$.workspace.repository', details: { repository, forges: names } },
  );
}

/**
 * Where the forge `name`'s repository is fetched from and with which credential, as its pushes
 * reach it (ServerForges.gitAccess). A refusal of the forge itself (a GitHub App whose installation
 * token GitHub will not issue, GitHub down) is the forge's code at `$.workspace.repository`.
 */
async function forgeAccess(name: string, forges: ServerForges): Promise<Omit<RepositoryWorkspaceRequest, 'ref'>> {
  try {
    return await forges.gitAccess(name);
  } catch (error) {
    if (!isCairnError(error) || !error.code.startsWith('CAIRN_FORGE_')) throw error;
    throw new CairnError(
      error.code,
      `$.workspace.repository names the forge ${name}, whose repository could not be fetched: ${error.message}. Nothing was stored.`,
      { path: '$.workspace.repository', details: error.details, cause: error },
    );
  }
}

/**
 * Where a repository is, as `workspaces.repositories` is matched against it: a URL with its dot
 * segments resolved (as curl resolves them), a path resolved through `..` and symbolic links (as
 * git opens it), so `/srv/mirrors/../../home` or a link out of an allowed folder matches where it
 * really leads, not the folder it names.
 */
async function comparableLocation(repository: string): Promise<string> {
  if (!repository.startsWith('/')) return new URL(repository).href;
  const resolved = resolve(repository);
  return realpath(resolved).then(
    (real) => (resolved.endsWith('/') ? `${real}/` : real),
    () => resolved,
  );
}
