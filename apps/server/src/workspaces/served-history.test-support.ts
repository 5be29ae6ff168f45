import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, type GitHttpServer } from '../../../../packages/git-forge/src/git-http-server.test-support.ts';

/**
 * The repository the workspace tests fetch: `app` on the loopback git server, whose `main` holds
 * three commits of notes.txt ("version 1" to "version 3") and a tag v1 on the first, made in a
 * working copy under `scratch`. Returns the commits of `main`, newest first.
 */
export async function serveNotesHistory(server: GitHttpServer, scratch: string): Promise<string[]> {
  await server.createRepository('app');
  const work = join(scratch, 'work');
  await git(scratch, ['init', '--quiet', '--initial-branch=main', work]);
  for (const version of [1, 2, 3]) {
    writeFileSync(join(work, 'notes.txt'), `version ${version}\n`);
    await git(work, ['add', 'notes.txt']);
    await git(work, ['commit', '--quiet', '-m', `version ${version}`]);
  }
  await git(work, ['tag', 'v1', 'HEAD~2']);
  await git(work, ['push', '--quiet', server.path('app'), 'main', 'v1']);
  return (await git(work, ['rev-list', 'main'])).trim().split('\n');
}
