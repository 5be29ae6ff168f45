import { runCommand } from '../fork-server/run-command.ts';

/**
 * Perl (in every Debian: perl-base is essential) calls the mount API Node has no binding for, and
 * util-linux 2.38's mount has no idmap option yet: a child process makes a user namespace that maps
 * uid and gid 0 to the sandbox's, and the folder is cloned as a detached mount, given that mapping
 * (mount_setattr with MOUNT_ATTR_IDMAP) and attached at the target. Syscall numbers: open_tree 428,
 * move_mount 429 and mount_setattr 442 are one table on every architecture; unshare is not.
 * Arguments: source, target, uid.
 */
export const idmapScript = String.raw`
use strict; use warnings; use Config;
my ($source, $target, $uid) = @ARGV;
my %unshare = (x86_64 => 272, aarch64 => 97);
my ($arch) = $Config{archname} =~ /^([^-]+)/;
my $unshare = $unshare{$arch} // die "no unshare syscall number known for $arch\n";
pipe(my $made_read, my $made_write) or die "pipe: $!\n";
pipe(my $done_read, my $done_write) or die "pipe: $!\n";
my $child = fork() // die "fork: $!\n";
if ($child == 0) {
  close $made_read; close $done_write;
  syscall($unshare, 0x10000000) == 0 or die "unshare(CLONE_NEWUSER): $!\n";
  syswrite $made_write, "1"; close $made_write;
  sysread $done_read, my $ignored, 1; exit 0;
}
close $made_write; close $done_read;
sysread($made_read, my $made, 1) == 1 or die "the user namespace was not made\n";
for my $map ('uid_map', 'gid_map') {
  open my $file, '>', "/proc/$child/$map" or die "$map: $!\n";
  print $file "0 $uid 1\n";
  close $file or die "$map: $!\n";
}
open my $namespace, '<', "/proc/$child/ns/user" or die "the user namespace: $!\n";
my ($empty_a, $empty_b, $from, $to) = ('', '', $source, $target);
my $tree = syscall(428, -100, $from, 1 | 0x80000 | 0x8000);
$tree >= 0 or die "open_tree: $!\n";
my $attributes = pack("QQQQ", 0x00100000 | 0x1, 0, 0, fileno($namespace));
syscall(442, $tree, $empty_a, 0x1000 | 0x8000, $attributes, 32) == 0 or die "mount_setattr(MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY): $!\n";
syscall(429, $tree, $empty_b, -100, $to, 0x4) == 0 or die "move_mount: $!\n";
close $done_write; waitpid $child, 0;
`;

/**
 * Binds `source` at `target` (an existing empty folder), read-only, so that what root owns there
 * shows as owned by `uid` (and its group): an overlay over it gives the sandbox of `uid` a tree
 * that was built once for every sandbox as its own, without a chown of each file. Read-only, so
 * that nothing (a removal that missed an unmount) reaches the tree through it. Root only; Linux 5.12
 * or later (idmapped mounts), on a file system that supports them (ext4, xfs, btrfs, tmpfs…).
 * Throws an Error with the step that failed.
 */
export async function idmappedBind(source: string, target: string, uid: number): Promise<void> {
  try {
    // By its path: a runner's fork server runs /usr/bin/perl -e programs in a child of its own.
    await runCommand('/usr/bin/perl', ['-e', idmapScript, source, target, String(uid)], { env: { PATH: '/usr/bin:/bin' } });
  } catch (error) {
    const stderr = (error as { stderr?: unknown }).stderr;
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'perl is not installed'
        : typeof stderr === 'string' && stderr.trim() !== ''
          ? stderr.trim()
          : (error as Error).message;
    throw new Error(`cannot bind ${source} at ${target} as owned by uid ${uid}: ${reason}`, { cause: error });
  }
}
