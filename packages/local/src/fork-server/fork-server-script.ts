/**
 * The fork server's program, for `perl -e <script> <folder>` (perl-base alone: POSIX and
 * IO::Select, Fcntl). It reads requests on standard input, each `<fields length> <input length>\n`, then
 * that many bytes of NUL-separated fields, then that many bytes of the program's standard input:
 *
 * - `spawn, id, cwd, file size, argc, argv…, env…` (env as `NAME=value`): opens files without a name in
 *   `folder` (the input, written, unless it is empty: /dev/null; the output and error), so nothing
 *   is left on disk whatever happens to either process; forks; the child takes them as its standard input,
 *   output and error, enters `cwd`, takes exactly that environment, sets its file-size limit (soft
 *   and hard, RLIMIT_FSIZE) to `file size` bytes unless that is empty (the prlimit64 system call,
 *   whose number is the script's second argument) and execs argv[0] (no shell; looked up on the
 *   given PATH). A child that cannot writes its errno to a close-on-exec pipe the
 *   server waits on, and the server answers `error <id> <errno>\n`; once it runs, when it ends,
 *   `exit <id> <wait status> <output length> <error length>\n` and those bytes of its output and
 *   error, read back from the files (the Node process that asked opens no file for a program).
 * - `script, …`: as `spawn`, for a Perl program (argv: the program's text, then its arguments), which
 *   the child runs itself, as `perl -e` would (no exec: no interpreter to start), once it has
 *   closed the lifelines and pipes the server holds for others; a die ends it as perl's would.
 * - `kill, id`: SIGKILL to that child, if it still runs.
 * - `live, id, cwd, lifeline (0/1), argc, argv…, env…`: a program whose output is read as it
 *   comes. Its output and error are pipes; with a lifeline, fd 3 is the read end of a third pipe
 *   whose write end the server holds (never passed on: close-on-exec). The child makes a session
 *   and process group of its own (setsid), takes /dev/null as input, enters `cwd`, takes the
 *   environment and execs argv[0]. Answers `error <id> <errno>\n`, or `started <id> <pid> <output
 *   fd> <error fd>\n`: the server's descriptors of the pipes' read ends, which the asking process
 *   (the server's parent, root or its uid) opens as `/proc/<server pid>/fd/<fd>`, so the pipes are
 *   anonymous as a spawn's (a named pipe's path would show through the program's /proc/self/fd).
 *   The server holds them until `opened, id`, so neither number is reused before they are opened.
 *   When it ends: `exit <id> <wait status> 0 0\n`, the lifeline closed just before.
 * - `release, id`: closes that child's lifeline now.
 *
 * Children are reaped through a self-pipe written by the SIGCHLD handler, so a child ending while
 * the server reads a request is never missed. End of standard input (its parent gone) ends the
 * server; children it started run on to their end, as children of a spawn do, but every lifeline
 * it held closes with it: a runner killed with SIGKILL still has its sandboxes killed.
 */
export const forkServerScript = String.raw`
use strict;
use warnings;
use POSIX ();
use Fcntl ();
use IO::Select;

# A Perl program given as perl -e (the 'script' verb), compiled and run in a fork of this server:
# defined before any lexical of the server, so that the program sees none of them, and named -e as
# perl -e names it in its messages. Returns true, or false with the error in $@.
sub run_script {
  my ($program, @arguments) = @_;
  @ARGV = @arguments;
  $0 = '-e';
  eval "package main;\n#line 1 \"-e\"\n$program";
  return $@ eq '';
}

$| = 1;
binmode STDIN;
binmode STDOUT;
$SIG{PIPE} = 'IGNORE';
my %children;
my %held;
pipe(my $wake_read, my $wake_write) or die "pipe: $!";
my $flags = fcntl($wake_write, POSIX::F_GETFL(), 0);
fcntl($wake_write, POSIX::F_SETFL(), $flags | POSIX::O_NONBLOCK());
$SIG{CHLD} = sub { syswrite($wake_write, 'x') };
my $select = IO::Select->new(\*STDIN, $wake_read);
my $buffer = '';
my $folder = $ARGV[0];
my $prlimit64 = $ARGV[1] // '';

# prlimit64(0, RLIMIT_FSIZE, {soft, hard}, NULL) on this process, before it execs: what a prlimit
# program would do, without one more program. RLIMIT_FSIZE is 1 on every Linux the number is given for.
sub limit_file_size {
  my ($bytes) = @_;
  return 0 if $prlimit64 eq '';
  my $limit = pack('QQ', $bytes, $bytes);
  return syscall($prlimit64 + 0, 0, 1, $limit, 0) == 0;
}

sub read_all {
  my ($handle) = @_;
  my $size = -s $handle;
  my $bytes = '';
  sysseek($handle, 0, 0);
  while (length($bytes) < $size) {
    my $read = sysread($handle, $bytes, $size - length($bytes), length $bytes);
    last if !$read;
  }
  close $handle;
  return $bytes;
}

# Linux's O_TMPFILE (__O_TMPFILE with O_DIRECTORY; Fcntl does not name it): a file with no name at
# all. Where the kernel or file system refuses it, a named file unlinked at once.
my $tmpfile = 020000000 | Fcntl::O_DIRECTORY();

sub unlinked_file {
  my ($name, $content) = @_;
  my $handle;
  if (!sysopen($handle, $folder, $tmpfile | Fcntl::O_RDWR(), 0600)) {
    my $path = "$folder/$name";
    sysopen($handle, $path, Fcntl::O_RDWR() | Fcntl::O_CREAT() | Fcntl::O_EXCL(), 0600) or return;
    unlink $path;
  }
  binmode $handle;
  my $at = 0;
  while ($at < length $content) {
    my $wrote = syswrite($handle, $content, length($content) - $at, $at);
    return if !defined $wrote;
    $at += $wrote;
  }
  sysseek($handle, 0, 0);
  return $handle;
}

sub start_child {
  my ($script, $input, $id, $cwd, $file_size, $argc, @rest) = @_;
  my @argv = splice(@rest, 0, $argc);
  my %env = map { my ($name, $value) = split(/=/, $_, 2); ($name, $value) } @rest;
  my $stdin;
  if ($input eq '') { open($stdin, '<', '/dev/null') or return print "error $id " . ($! + 0) . "\n"; }
  my @files = ($stdin // unlinked_file("$id.in", $input), unlinked_file("$id.out", ''), unlinked_file("$id.err", ''));
  return print "error $id " . ($! + 0) . "\n" if grep { !defined } @files;
  my ($in, $out, $err) = @files;
  pipe(my $errno_read, my $errno_write) or return print "error $id " . ($! + 0) . "\n";
  my $pid = fork();
  if (!defined $pid) { my $errno = $! + 0; close $_ for ($errno_read, $errno_write, @files); return print "error $id $errno\n"; }
  if ($pid == 0) {
    close $errno_read;
    $SIG{CHLD} = 'DEFAULT';
    $SIG{PIPE} = 'DEFAULT';
    my $ok = open(STDIN, '<&', $in) && open(STDOUT, '>&', $out) && open(STDERR, '>&', $err) && chdir($cwd);
    $ok &&= limit_file_size($file_size) if $ok && $file_size ne '';
    if ($ok && $script) {
      # No exec to close them: the lifelines' write ends (a sandbox must not outlive the server
      # because this child lives on) and the live programs' pipes are closed here.
      for my $child (values %children) { close $child->[3] if defined $child->[3]; }
      close $_ for map { @$_ } values %held;
      close $wake_read;
      close $wake_write;
      %ENV = %env;
      close $errno_write;
      run_script(@argv) and exit 0;
      # As perl ends on a die: the message on standard error, the exit status from errno.
      my ($error, $errno) = ($@, $! + 0);
      print STDERR $error;
      exit(($errno & 255) || 255);
    }
    if ($ok) {
      %ENV = %env;
      exec { $argv[0] } @argv;
    }
    syswrite($errno_write, ($! + 0) . '');
    POSIX::_exit(127);
  }
  close $errno_write;
  close $in;
  my $got = sysread($errno_read, my $errno, 32);
  close $errno_read;
  if ($got) {
    waitpid($pid, 0);
    close $out;
    close $err;
    return print "error $id $errno\n";
  }
  $children{$pid} = [$id, $out, $err];
}

sub start_live {
  my ($id, $cwd, $lifeline, $argc, @rest) = @_;
  my @argv = splice(@rest, 0, $argc);
  my %env = map { my ($name, $value) = split(/=/, $_, 2); ($name, $value) } @rest;
  my ($out_read, $out_write, $err_read, $err_write, $life_read, $life_write, $errno_read, $errno_write);
  my $piped = pipe($out_read, $out_write) && pipe($err_read, $err_write) && (!$lifeline || pipe($life_read, $life_write)) && pipe($errno_read, $errno_write);
  return print "error $id " . ($! + 0) . "\n" if !$piped;
  my $pid = fork();
  if (!defined $pid) { my $errno = $! + 0; return print "error $id $errno\n"; }
  if ($pid == 0) {
    close $errno_read;
    $SIG{CHLD} = 'DEFAULT';
    $SIG{PIPE} = 'DEFAULT';
    # Standard streams are never close-on-exec; fd 3 (the server's wake pipe, which is) is
    # replaced by the lifeline's read end, and dup2 leaves the copy inheritable.
    my $ok = defined(POSIX::setsid()) && open(STDIN, '<', '/dev/null') && open(STDOUT, '>&', $out_write) && open(STDERR, '>&', $err_write) && chdir($cwd);
    $ok &&= defined(POSIX::dup2(fileno($life_read), 3)) if $ok && $lifeline;
    if ($ok) {
      %ENV = %env;
      exec { $argv[0] } @argv;
    }
    syswrite($errno_write, ($! + 0) . '');
    POSIX::_exit(127);
  }
  close $errno_write;
  close $out_write;
  close $err_write;
  close $life_read if $lifeline;
  my $got = sysread($errno_read, my $errno, 32);
  close $errno_read;
  if ($got) {
    waitpid($pid, 0);
    return print "error $id $errno\n";
  }
  $children{$pid} = [$id, undef, undef, $life_write];
  $held{$id} = [$out_read, $err_read];
  print "started $id $pid " . fileno($out_read) . ' ' . fileno($err_read) . "\n";
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
    while ($buffer =~ /^(\d+) (\d+)\n/) {
      my ($length, $input_length) = ($1, $2);
      my $start = length("$length $input_length") + 1;
      last if length($buffer) < $start + $length + $input_length;
      my $payload = substr($buffer, $start, $length);
      my $input = substr($buffer, $start + $length, $input_length);
      substr($buffer, 0, $start + $length + $input_length) = '';
      my ($verb, @fields) = split(/\0/, $payload, -1);
      if ($verb eq 'spawn' || $verb eq 'script') { start_child($verb eq 'script', $input, @fields); }
      elsif ($verb eq 'kill') {
        my ($pid) = grep { $children{$_}[0] eq $fields[0] } keys %children;
        kill('KILL', $pid) if defined $pid;
      }
      elsif ($verb eq 'live') { start_live(@fields); }
      elsif ($verb eq 'opened') { delete $held{$fields[0]}; }
      elsif ($verb eq 'release') {
        my ($pid) = grep { $children{$_}[0] eq $fields[0] } keys %children;
        $children{$pid}[3] = undef if defined $pid;
      }
    }
  }
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $child = delete $children{$pid};
    next if !defined $child;
    my ($id, $out, $err) = @$child;
    my $status = $?;
    if (!defined $out) {
      $child->[3] = undef;
      print "exit $id $status 0 0\n";
      next;
    }
    my ($stdout, $stderr) = (read_all($out), read_all($err));
    print "exit $id $status " . length($stdout) . ' ' . length($stderr) . "\n", $stdout, $stderr;
  }
}
`;
