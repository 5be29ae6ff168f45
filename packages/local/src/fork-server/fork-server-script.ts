/**
 * The fork server's program, for `perl -e` (perl-base alone: POSIX and IO::Select). It reads
 * requests on standard input, each `<length>\n` then that many bytes of NUL-separated fields:
 *
 * - `spawn, id, cwd, stdin file (empty: /dev/null), stdout file, stderr file, argc, argv…, env…`
 *   (env as `NAME=value`): forks; the child opens its files, enters `cwd`, takes exactly that
 *   environment and execs argv[0] (no shell; looked up on the given PATH). A child that cannot
 *   writes its errno to a close-on-exec pipe the server waits on, and the server answers
 *   `error <id> <errno>`; once it runs, `exit <id> <wait status>` when it ends.
 * - `kill, id`: SIGKILL to that child, if it still runs.
 *
 * Children are reaped through a self-pipe written by the SIGCHLD handler, so a child ending while
 * the server reads a request is never missed. End of standard input (its parent gone) ends the
 * server; children it started run on to their end, as children of a spawn do.
 */
export const forkServerScript = String.raw`
use strict;
use warnings;
use POSIX ();
use IO::Select;

$| = 1;
$SIG{PIPE} = 'IGNORE';
my %children;
pipe(my $wake_read, my $wake_write) or die "pipe: $!";
my $flags = fcntl($wake_write, POSIX::F_GETFL(), 0);
fcntl($wake_write, POSIX::F_SETFL(), $flags | POSIX::O_NONBLOCK());
$SIG{CHLD} = sub { syswrite($wake_write, 'x') };
my $select = IO::Select->new(\*STDIN, $wake_read);
my $buffer = '';

sub start_child {
  my ($id, $cwd, $in, $out, $err, $argc, @rest) = @_;
  my @argv = splice(@rest, 0, $argc);
  my %env = map { my ($name, $value) = split(/=/, $_, 2); ($name, $value) } @rest;
  pipe(my $errno_read, my $errno_write) or return print "error $id " . ($! + 0) . "\n";
  my $pid = fork();
  if (!defined $pid) { my $errno = $! + 0; close $errno_read; close $errno_write; return print "error $id $errno\n"; }
  if ($pid == 0) {
    close $errno_read;
    $SIG{CHLD} = 'DEFAULT';
    $SIG{PIPE} = 'DEFAULT';
    my $ok = open(STDIN, '<', $in eq '' ? '/dev/null' : $in) && open(STDOUT, '>', $out) && open(STDERR, '>', $err) && chdir($cwd);
    if ($ok) {
      %ENV = %env;
      exec { $argv[0] } @argv;
    }
    syswrite($errno_write, ($! + 0) . '');
    POSIX::_exit(127);
  }
  close $errno_write;
  my $got = sysread($errno_read, my $errno, 32);
  close $errno_read;
  if ($got) {
    waitpid($pid, 0);
    return print "error $id $errno\n";
  }
  $children{$pid} = $id;
}

while (1) {
  for my $handle ($select->can_read()) {
    if ($handle == $wake_read) {
      sysread($wake_read, my $drop, 4096);
      next;
    }
    my $read = sysread(STDIN, $buffer, 65536, length $buffer);
    next if !defined $read;
    exit 0 if $read == 0;
    while ($buffer =~ /^(\d+)\n/) {
      my $length = $1;
      my $start = length($length) + 1;
      last if length($buffer) < $start + $length;
      my $payload = substr($buffer, $start, $length);
      substr($buffer, 0, $start + $length) = '';
      my ($verb, @fields) = split(/\0/, $payload, -1);
      if ($verb eq 'spawn') { start_child(@fields); }
      elsif ($verb eq 'kill') {
        my ($pid) = grep { $children{$_} eq $fields[0] } keys %children;
        kill('KILL', $pid) if defined $pid;
      }
    }
  }
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $id = delete $children{$pid};
    print "exit $id $?\n" if defined $id;
  }
}
`;
