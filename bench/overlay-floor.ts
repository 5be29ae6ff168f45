// The least a sandboxed item over a large workspace has to cost, done by hand as root: an overlay
// mount over an already-extracted copy of the workspace (a fresh upper layer per item), bubblewrap
// running the item's command in the merged folder, then a diff of what the upper layer holds
// against the lower copy. What Cairn does per item on top of this is what its design adds.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CpuCgroup } from './cpu-cgroup.ts';
import { checkOneLineChange, type OneLineEdit } from './one-line-edit.ts';

/**
 * One item: arguments are the lower folder, the item's folder, then the command. The patch goes to
 * `<item>/patch`; the upper layer is walked (a whiteout, a character device, is a deletion) and
 * each entry in it diffed with `git diff --no-index` against the lower copy.
 */
const itemScript = [
  'set -eu',
  'lower=$1 item=$2; shift 2',
  'mkdir "$item/upper" "$item/work" "$item/merged"',
  'mount -t overlay overlay -o "lowerdir=$lower,upperdir=$item/upper,workdir=$item/work,redirect_dir=off,metacopy=off,index=off" "$item/merged"',
  'status=0',
  'bwrap --bind "$item/merged" /workspace --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 \\',
  '  --proc /proc --dev /dev --tmpfs /tmp --chdir /workspace --unshare-all --die-with-parent --new-session \\',
  '  --clearenv --setenv PATH /usr/bin:/bin -- "$@" || status=$?',
  'umount "$item/merged"',
  '[ "$status" -eq 0 ] || { echo "the command exited $status" >&2; exit 1; }',
  'cd "$item/upper"',
  'find . -mindepth 1 ! -type d -print | while IFS= read -r path; do',
  '  path=${path#./}',
  '  if [ -c "$path" ]; then new=/dev/null; else new="$item/upper/$path"; fi',
  '  if [ -e "$lower/$path" ] || [ -L "$lower/$path" ]; then old="$lower/$path"; else old=/dev/null; fi',
  '  git diff --no-index --binary -- "$old" "$new" || [ $? -eq 1 ]',
  'done > "$item/patch"',
  'cd /',
  'rm -rf "$item/upper" "$item/work" "$item/merged"',
].join('\n');

export interface FloorSettings {
  /** The workspace's files, extracted once (not measured). */
  readonly lower: string;
  /** A folder for the items' layers. */
  readonly work: string;
  readonly edits: readonly OneLineEdit[];
  /** Items running at once, as the Cairn run has them. */
  readonly concurrency: number;
  /** The group every item's processes run in from their first instruction. */
  readonly cgroup: CpuCgroup;
}

/** Runs every edit as a floor item; checks each patch is its one-line change; returns the group's CPU and the wall time. */
export async function runOverlayFloor(settings: FloorSettings): Promise<{ cpuMs: number; wallMs: number }> {
  const before = settings.cgroup.usageMs();
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < settings.edits.length) {
      const index = next++;
      const edit = settings.edits[index]!;
      const item = join(settings.work, `item-${index}`);
      mkdirSync(item, { recursive: true });
      await runItem([...settings.cgroup.launcher(), '/bin/sh', '-c', itemScript, 'floor-item', settings.lower, item, ...edit.argv]);
      checkOneLineChange(readFileSync(join(item, 'patch'), 'utf8'), edit, { header: false });
      rmSync(item, { recursive: true, force: true });
    }
  };
  await Promise.all(Array.from({ length: settings.concurrency }, lane));
  return { cpuMs: settings.cgroup.usageMs() - before, wallMs: performance.now() - started };
}

function runItem(argv: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = argv;
    const child = spawn(command!, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`a floor item exited ${code ?? signal}: ${stderr}`))));
  });
}
