import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { neutralAttributes } from './baseline-git.ts';

/** A SHA-1 commit id: the only object format a snapshot tree's git directory is made with (`git init`'s default). */
const sha1CommitId = /^[0-9a-f]{40}$/;

/**
 * The git directory of an attempt laid over a snapshot tree, written as files rather than by four
 * git processes (`init`, `config`, `update-ref`, and the index copy): a repository of format 0
 * (what `git init --template=` writes) whose objects are the tree's (`objects/info/alternates`),
 * whose index is a copy of the tree's, and whose branch points at the tree's baseline commit.
 * `core.checkStat = minimal`: the index's stat data is the tree's as the host sees it, and
 * through the layer the same files show another owner, device and inode; compared on mtime and size
 * alone the untouched ones match (else `git apply --index` refuses them as changed), and a file
 * the attempt wrote has a later mtime (or is racily new, and then git reads it). No reflogs: nobody
 * reads them, and each would be one more write per commit.
 */
export async function writeLayeredGitDirectory(gitDirectory: string, tree: { readonly gitDirectory: string; readonly baseline: string }): Promise<void> {
  if (!sha1CommitId.test(tree.baseline)) throw new Error(`the snapshot tree's baseline ${JSON.stringify(tree.baseline)} is not a SHA-1 commit id`);
  await mkdir(gitDirectory);
  await Promise.all(
    ['objects/info', 'objects/pack', 'refs/heads', 'refs/tags', 'info'].map((folder) => mkdir(join(gitDirectory, folder), { recursive: true })),
  );
  await Promise.all([
    writeFile(
      join(gitDirectory, 'config'),
      '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = false\n\tcheckStat = minimal\n',
    ),
    writeFile(join(gitDirectory, 'HEAD'), 'ref: refs/heads/cairn\n'),
    writeFile(join(gitDirectory, 'refs', 'heads', 'cairn'), `${tree.baseline}\n`),
    writeFile(join(gitDirectory, 'objects', 'info', 'alternates'), `${join(tree.gitDirectory, 'objects')}\n`),
    writeFile(join(gitDirectory, 'info', 'attributes'), neutralAttributes),
    copyFile(join(tree.gitDirectory, 'index'), join(gitDirectory, 'index')),
  ]);
}
