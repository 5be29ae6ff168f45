import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { readTar, workspacePathProblem, type TarMember } from '@cairn/protocol/workspace';

// Files written at once: enough to keep the disk busy, few enough not to run out of descriptors.
const parallelWrites = 64;

/**
 * Writes a snapshot tar into `directory` (which must exist and be empty), without the `tar`
 * binary: every member is checked before anything is written, and only plain files (mode 0644 or
 * 0755, owned by the worker: no setuid bits or foreign owners survive), directories and symlinks
 * are made. Refused with CAIRN_PAYLOAD_INVALID, naming the member: absolute paths, `..` or `.git`
 * segments, a member beneath a symlink or a file (what a "write through a symlink" attack needs),
 * duplicates, hard links, devices and FIFOs. Symlink targets are written as they are: they belong
 * to the user's own baseline and nothing here follows them. Returns the number of files and symlinks.
 */
export async function extractSnapshot(bytes: Uint8Array, directory: string, what: string): Promise<number> {
  const members = planMembers(bytes, what);
  const directories = [...new Set(members.flatMap((member) => (member.kind === 'directory' ? [member.path] : parentsOf(member.path).slice(-1))))].sort();
  for (const path of directories) await mkdir(join(directory, path), { recursive: true });
  const writes = members.filter((member) => member.kind !== 'directory');
  for (let start = 0; start < writes.length; start += parallelWrites) {
    await Promise.all(
      writes
        .slice(start, start + parallelWrites)
        .map((member) =>
          member.kind === 'file'
            ? writeFile(join(directory, member.path), member.content, { flag: 'wx', mode: member.executable ? 0o755 : 0o644 })
            : member.kind === 'symlink'
              ? symlink(member.target, join(directory, member.path))
              : Promise.resolve(),
        ),
    );
  }
  return writes.length;
}

/** The members with normalised paths, each checked against those before it. */
function planMembers(bytes: Uint8Array, what: string): TarMember[] {
  let members: TarMember[];
  try {
    members = readTar(bytes);
  } catch (error) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `${what} is not a usable snapshot tar: ${(error as Error).message}. Take the snapshot again with \`snapshotWorkspace\`.`,
      { cause: error },
    );
  }
  const refuse = (path: string, problem: string): never => {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `${what} holds ${JSON.stringify(path)}, which ${problem}; nothing was extracted. Take the snapshot again with \`snapshotWorkspace\`.`,
      {
        path,
      },
    );
  };
  const kinds = new Map<string, TarMember['kind']>();
  const planned: TarMember[] = [];
  for (const member of members) {
    const path = member.path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if (path === '' || path === '.') continue;
    const problem = workspacePathProblem(path);
    if (problem !== undefined) refuse(member.path, problem);
    for (const parent of parentsOf(path)) {
      const kind = kinds.get(parent);
      if (kind !== undefined && kind !== 'directory') refuse(member.path, `lies beneath the ${kind} ${JSON.stringify(parent)}`);
      kinds.set(parent, 'directory');
    }
    const existing = kinds.get(path);
    if (existing !== undefined) {
      if (existing === 'directory' && member.kind === 'directory') continue;
      refuse(member.path, `appears twice (as a ${existing} and a ${member.kind})`);
    }
    if (member.kind === 'symlink' && (member.target === '' || member.target.includes('\0'))) refuse(member.path, 'is a symlink without a usable target');
    kinds.set(path, member.kind);
    planned.push({ ...member, path });
  }
  return planned;
}

/** `a`, `a/b` for `a/b/c`. */
function parentsOf(path: string): string[] {
  const segments = path.split('/');
  return segments.slice(0, -1).map((_, index) => segments.slice(0, index + 1).join('/'));
}
