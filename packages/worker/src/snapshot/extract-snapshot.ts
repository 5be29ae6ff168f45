import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { historyFolderName, historyMemberNames, readTar, workspacePathProblem, type TarMember } from '@cairn/protocol/workspace';

// Files written at once: enough to keep the disk busy, few enough not to run out of descriptors.
const parallelWrites = 64;

/**
 * Writes a snapshot tar into `directory` (which must exist and be empty), without the `tar`
 * binary: every member is checked before anything is written, and only plain files (mode 0644 or
 * 0755, owned by the worker: no setuid bits or foreign owners survive), directories and symlinks
 * are made. Refused with CAIRN_PAYLOAD_INVALID, naming the member: absolute paths, `..` or `.git`
 * segments, a member beneath a symlink or a file (what a "write through a symlink" attack needs),
 * duplicates, hard links, devices and FIFOs. Symlink targets are written as they are: they belong
 * to the user's own baseline and nothing here follows them. Members under `.cairn-history/` are the
 * repository history the snapshot carries: returned, never written. Returns the number of files and
 * symlinks written, and the history.
 */
export async function extractSnapshot(bytes: Uint8Array, directory: string, what: string): Promise<ExtractedSnapshot> {
  const { members, history } = planMembers(bytes, what);
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
  return { entries: writes.length, ...(history ? { history } : {}) };
}

/** What a snapshot held: how many files and symlinks were written, and the history it carries, if any. */
export interface ExtractedSnapshot {
  readonly entries: number;
  /** The repository history the snapshot carries (see `historyMemberNames`): its HEAD, where it is cut, its pack. */
  readonly history?: SnapshotHistory;
}

export interface SnapshotHistory {
  readonly head: string;
  readonly shallow: readonly string[];
  readonly pack: Uint8Array;
}

const commitId = /^[0-9a-f]{40}$/;

/** The history members of a snapshot, checked; refused with CAIRN_PAYLOAD_INVALID when they are not the three of a history. */
function historyOf(members: ReadonlyMap<string, TarMember>, refuse: (path: string, problem: string) => never): SnapshotHistory | undefined {
  if (members.size === 0) return undefined;
  const text = (name: string) => {
    const member = members.get(name);
    if (member?.kind !== 'file')
      return refuse(name, `is missing or not a file, and a snapshot's history needs ${Object.values(historyMemberNames).join(', ')}`);
    return member.content;
  };
  for (const path of members.keys())
    if (!(Object.values(historyMemberNames) as string[]).includes(path)) refuse(path, `lies in ${historyFolderName}, where only a history's members may`);
  const head = Buffer.from(text(historyMemberNames.head)).toString('utf8').trim();
  const shallow = Buffer.from(text(historyMemberNames.shallow))
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '');
  for (const commit of [head, ...shallow])
    if (!commitId.test(commit)) refuse(historyMemberNames.head, `names ${JSON.stringify(commit.slice(0, 80))}, not a commit id`);
  return { head, shallow, pack: text(historyMemberNames.pack) };
}

/** The members with normalised paths, each checked against those before it, and the history apart. */
function planMembers(bytes: Uint8Array, what: string): { members: TarMember[]; history: SnapshotHistory | undefined } {
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
  const historyMembers = new Map<string, TarMember>();
  for (const member of members) {
    const path = member.path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if (path === '' || path === '.') continue;
    if (path === historyFolderName || path.startsWith(`${historyFolderName}/`)) {
      if (member.kind !== 'directory') historyMembers.set(path, member);
      continue;
    }
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
  return { members: planned, history: historyOf(historyMembers, refuse) };
}

/** `a`, `a/b` for `a/b/c`. */
function parentsOf(path: string): string[] {
  const segments = path.split('/');
  return segments.slice(0, -1).map((_, index) => segments.slice(0, index + 1).join('/'));
}
