// Re-submitting a large workspace, as `cairn submit --workspace` snapshots it before its network
// call: a generated git repository of 38,000 files (~50 MB, the size the issue measured), snapshot
// in a Node process of its own from the built `@cairn/protocol/workspace` (with cairn's heap flag
// and 50 commits of history, as the CLI does), its CPU (user + system, git's included) from
// /usr/bin/time. Three cases: the first snapshot (no index yet: every file read and the tar
// written), the same workspace unchanged (the index knows the snapshot: goal at most 10% of the
// first's CPU), and after one file changed (that file is the only one read to find out, but the
// tar, which the server does not hold, is written again). Medians of three rounds, each with an
// index of its own.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateRepository } from './generated-repository.ts';
import { atMost, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const rounds = 3;

// What uploadWorkspace does up to its network call, in a child's ESM; argv: workspace, index folder, tar file.
const snapshotChild = `
import { createWriteStream } from 'node:fs';
import { prepareWorkspaceSnapshot } from '@cairn/protocol/workspace';
const [directory, indexFolder, tar] = process.argv.slice(1);
const prepared = await prepareWorkspaceSnapshot(directory, { history: 50, indexFolder });
const snapshot = prepared.known ?? (await prepared.write(createWriteStream(tar)));
process.stdout.write(JSON.stringify({ digest: snapshot.digest, known: prepared.known !== undefined, contentReads: prepared.contentReads }));
`;

interface Sample {
  readonly cpuMs: number;
  readonly digest: string;
  readonly known: boolean;
  readonly contentReads: number;
}

function snapshot(directory: string, indexFolder: string, scratch: string): Sample {
  const times = join(scratch, 'time.txt');
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  const child = spawnSync(
    '/usr/bin/time',
    [
      '-o',
      times,
      '-f',
      '%U %S',
      process.execPath,
      '--max-semi-space-size=16',
      '--input-type=module',
      '-e',
      snapshotChild,
      directory,
      indexFolder,
      join(scratch, 'snapshot.tar'),
    ],
    { cwd: import.meta.dirname, env, encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`the snapshot child failed (${child.status}): ${child.stderr}`);
  const [user, system] = readFileSync(times, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return { cpuMs: (user! + system!) * 1000, ...(JSON.parse(child.stdout) as Omit<Sample, 'cpuMs'>) };
}

const median = (values: readonly number[]): number => [...values].sort((left, right) => left - right)[Math.floor(values.length / 2)]!;

export async function workspaceResubmitRows({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'cairn-bench-resubmit-'));
  try {
    log('  generating a 38,000-file repository ...');
    const repository = generateRepository(join(scratch, 'repository'), { files: 38_000, bytes: 50_000_000, seed: 38_000 });
    // Every file older than the racy window, as in a checkout a user submits.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const first: Sample[] = [];
    const unchanged: Sample[] = [];
    const oneFile: Sample[] = [];
    for (let round = 0; round < rounds; round++) {
      log(`  round ${round + 1} of ${rounds}: first snapshot, unchanged, one file changed ...`);
      const indexFolder = join(scratch, `index-${round}`);
      first.push(snapshot(repository.directory, indexFolder, scratch));
      unchanged.push(snapshot(repository.directory, indexFolder, scratch));
      if (!unchanged.at(-1)!.known || unchanged.at(-1)!.digest !== first.at(-1)!.digest)
        throw new Error(`the unchanged workspace was not known from its index: ${JSON.stringify(unchanged.at(-1))}`);
      appendFileSync(join(repository.directory, repository.textFiles[round]!), `// changed in round ${round}\n`);
      oneFile.push(snapshot(repository.directory, indexFolder, scratch));
      if (oneFile.at(-1)!.known || oneFile.at(-1)!.digest === first.at(-1)!.digest) throw new Error('the changed workspace was taken for the unchanged one');
    }
    // The last one-file snapshot is the truth the index must agree with: the same digest with no index at all.
    const truth = snapshot(repository.directory, join(scratch, 'no-index'), scratch);
    if (truth.digest !== oneFile.at(-1)!.digest) throw new Error(`the indexed snapshot ${oneFile.at(-1)!.digest} is not the workspace's ${truth.digest}`);
    execFileSync('git', ['checkout', '-q', '--', '.'], { cwd: repository.directory });
    const firstMs = median(first.map((sample) => sample.cpuMs));
    const unchangedMs = median(unchanged.map((sample) => sample.cpuMs));
    return [
      recorded('workspace-resubmit.38k-files.first-snapshot-cpu', Math.round(firstMs), 'ms'),
      recorded('workspace-resubmit.38k-files.unchanged-cpu', Math.round(unchangedMs), 'ms'),
      atMost('workspace-resubmit.38k-files.unchanged-share-of-first', Math.round((unchangedMs / firstMs) * 1000) / 10, '%', 10),
      recorded('workspace-resubmit.38k-files.one-file-changed-cpu', Math.round(median(oneFile.map((sample) => sample.cpuMs))), 'ms'),
      atMost('workspace-resubmit.38k-files.one-file-changed-files-read', Math.max(...oneFile.map((sample) => sample.contentReads)), 'files', 1),
    ];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
