import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { DispatchManifest, JsonValue } from '@cairn/core';
import { CairnError, canonicalJsonBytes, parseJsonPath, selectJsonPath } from '@cairn/protocol';
import type { BlobStore } from './blob-store.ts';

/**
 * The folder, inside the workspace, where an attempt finds the inputs its item `needs`: one file
 * per need, named after it, holding exactly what it selects — the upstream item's patch (`git diff
 * --binary` text), its `output.json`, or its captured stdout or stderr. The runtime is told where
 * in `CAIRN_INPUTS`. The folder is left out of the attempt's own patch.
 */
export const inputsFolderName = '.cairn-inputs';

/**
 * Writes every input of the manifest under `<workspace>/.cairn-inputs/<name>` (a name with `/`, a
 * planner's item, in a folder of its own; applied patches
 * too: a runtime may want to read what was applied) and returns the folder, or undefined when the
 * item needs nothing. A snapshot that already holds the folder is refused (CAIRN_PAYLOAD_INVALID):
 * its files would be mistaken for inputs.
 */
export async function deliverInputs(manifest: DispatchManifest, blobs: BlobStore, workspace: string): Promise<string | undefined> {
  const names = Object.keys(manifest.inputs);
  if (names.length === 0) return undefined;
  const folder = join(workspace, inputsFolderName);
  const existing = await lstat(folder).catch(() => null);
  if (existing !== null) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `The workspace already holds ${inputsFolderName}, where the item's inputs (${names.join(', ')}) are delivered. Rename it in the workspace, or drop the item's needs.`,
      { path: inputsFolderName },
    );
  }
  await mkdir(folder);
  for (const name of names) {
    const input = manifest.inputs[name]!;
    const fetched = await blobs.fetch(
      input.digest,
      `input ${JSON.stringify(name)} (the ${input.select} of item ${JSON.stringify(input.from)}, ${input.digest})`,
    );
    const bytes = input.path === undefined ? fetched : selectedPart(fetched, input.path, name, input.from);
    // A merge names its inputs after its items: a planner's are `plan/fix-auth`, a file in a folder.
    const target = resolve(folder, name);
    if (!target.startsWith(`${folder}/`))
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `Input name ${JSON.stringify(name)} leads out of ${inputsFolderName}.`, { path: `inputs.${name}` });
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, bytes, { flag: 'wx', mode: 0o644 });
  }
  return folder;
}

/** The part of a JSON output at `path` (a `forEach` instance's element), as canonical JSON. */
function selectedPart(output: Uint8Array, path: string, name: string, from: string): Uint8Array {
  const steps = parseJsonPath(path);
  let value: JsonValue;
  try {
    value = JSON.parse(new TextDecoder().decode(output)) as JsonValue;
  } catch {
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `Input ${JSON.stringify(name)} is ${path} of item ${from}'s output, which is not JSON.`, {
      path: `inputs.${name}`,
    });
  }
  const selected = steps === undefined ? { missing: path } : selectJsonPath(value, steps);
  if ('missing' in selected)
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Input ${JSON.stringify(name)} is ${path} of item ${from}'s output, which holds nothing at ${selected.missing}.`,
      {
        path: `inputs.${name}`,
      },
    );
  return canonicalJsonBytes(selected.found);
}
