import { realpath } from 'node:fs/promises';
import { isAbsolute, parse, relative, resolve, sep } from 'node:path';
import type { CairnClient } from '@cairn/client';
import type { Digest } from '@cairn/core';
import { CairnError } from '@cairn/protocol';

/** What `submit_run` may be given as the workspace its items start from. */
export type WorkspaceInput = { readonly directory: string } | { readonly digest: string };

/**
 * The digest of the snapshot `workspace` names: a blob already stored (`digest`), or a folder
 * snapshotted and uploaded now (`directory`, relative to `root` or absolute). A folder must be
 * `root` or lie inside it once symlinks are resolved, so that a prompt cannot make the server
 * read (and send off) files its operator did not offer: CAIRN_FORBIDDEN otherwise, and for every
 * folder when the root is the filesystem's root and nobody `chosen` it.
 */
export async function workspaceSnapshotDigest(
  client: CairnClient,
  workspace: WorkspaceInput,
  root: { readonly path: string; readonly chosen: boolean },
): Promise<{ digest: Digest; files?: number }> {
  if ('digest' in workspace) return { digest: workspace.digest as Digest };
  const allowed = await realpath(root.path).catch((error: NodeJS.ErrnoException) => {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `The workspace root ${root.path} cannot be used (${error.code ?? error.message}); start cairn mcp with --workspace-root naming an existing folder.`,
      { path: 'workspaceRoot', cause: error },
    );
  });
  // An MCP client often starts its servers in "/": a root nobody chose must not open the whole disk.
  if (!root.chosen && parse(allowed).root === allowed) {
    throw new CairnError(
      'CAIRN_FORBIDDEN',
      `cairn mcp was started in ${allowed} without --workspace-root, so it snapshots no folder; have the operator start it with --workspace-root <folder> (or in that folder), or give workspace.digest.`,
      { path: 'workspace.directory' },
    );
  }
  const named = resolve(allowed, workspace.directory);
  const directory = await realpath(named).catch((error: NodeJS.ErrnoException) => {
    throw new CairnError(
      'CAIRN_NOT_FOUND',
      `workspace.directory ${JSON.stringify(workspace.directory)} is not there (${named}: ${error.code ?? error.message}); name a folder inside ${allowed}.`,
      { path: 'workspace.directory', cause: error },
    );
  });
  const inside = relative(allowed, directory);
  if (inside.split(sep)[0] === '..' || isAbsolute(inside)) {
    throw new CairnError(
      'CAIRN_FORBIDDEN',
      `workspace.directory ${JSON.stringify(workspace.directory)} (${directory}) is outside the folder this MCP server may snapshot, ${allowed}; name a folder inside it, or have the operator start cairn mcp with --workspace-root <folder>.`,
      { path: 'workspace.directory' },
    );
  }
  const uploaded = await client.uploadWorkspace(directory);
  return { digest: uploaded.digest, files: uploaded.entries };
}
