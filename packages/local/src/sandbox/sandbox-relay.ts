/**
 * The sandbox's relay, run by its reaper in the sandbox's network namespace as the sandbox's uid:
 * for each door it listens on TCP 127.0.0.1:<port> there and joins each connection to a new
 * connection to that door's Unix socket on the host (the worker's model gateway forwarder, ADR
 * 0044; the attempt's egress proxy, ADR 0049), so a sandbox reaches those and nothing else without
 * any network of its own.
 *
 * Perl, not Node: perl-base is essential in every Debian and at /usr/bin/perl, readable by any uid
 * (the host's node may sit where a sandbox uid cannot execute it), it starts in a few milliseconds
 * where Node takes ~80 ms (the command waits for the relay), and it holds a few MB of the sandbox's
 * memory cgroup, not ~40. Shipped as a string, like the idmapped mount's script: nothing to locate
 * on disk, the same from `src` and from the built bundle.
 *
 * One process, one select loop, no fork (it runs as the sandbox's uid: a process per connection
 * would count against the sandbox's process limit). Per direction at most 64 KiB is held: a socket
 * is read only once what was read from it before has all been written to its peer (backpressure).
 * An end of file is passed on as a half-close (shutdown of the peer's writing side) once its data
 * is written; a pair is closed once both directions have ended, or at once when either socket
 * fails (reset, broken pipe) or the Unix socket refuses. At most 256 connections at a time (the
 * next wait in the listen backlog): what a sandbox opens can cost the relay neither its file
 * descriptors (a relay out of them would spin on a listener it cannot accept from) nor more than
 * ~32 MiB of buffers. Nothing is logged but a failure to listen.
 * The bind is retried while 127.0.0.1 is not there yet (bubblewrap brings the namespace's loopback
 * up just after it reports the sandbox's pid, when the relay is started).
 * Perl's Socket module is not loaded: it alone took ~25 ms of the relay's start (measured here,
 * loaded machine); its few constants are Linux's on every architecture but MIPS (SOCK_STREAM 2)
 * and the two addresses are packed by hand (struct sockaddr_in, struct sockaddr_un). The port is
 * a fresh network namespace's: no SO_REUSEADDR needed.
 * Argument: the doors, one a line, each `<port> <socket path>` (a path under 108 bytes, the limit
 * of a Unix socket's path; no newline in it).
 */
export const sandboxRelayScript = String.raw`
use strict;
use Errno qw(EAGAIN EINTR EADDRNOTAVAIL);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
my ($AF_UNIX, $AF_INET, $SOCK_STREAM, $SHUT_WR) = (1, 2, 1, 1);
my $most = 256;
$SIG{PIPE} = 'IGNORE';
sub nonblocking { my $flags = fcntl($_[0], F_GETFL, 0); fcntl($_[0], F_SETFL, $flags | O_NONBLOCK) or die "cairn relay: fcntl: $!\n"; }
# Each door's listener, and the socket path its connections are joined to.
my (@listeners, %path);
for my $door (split /\n/, $ARGV[0]) {
  my ($port, $path) = split / /, $door, 2;
  socket(my $listener, $AF_INET, $SOCK_STREAM, 0) or die "cairn relay: socket: $!\n";
  my $tries = 0;
  until (bind($listener, pack('S n C4 x8', $AF_INET, $port, 127, 0, 0, 1))) {
    die "cairn relay: cannot listen on 127.0.0.1:$port: $!\n" unless $! == EADDRNOTAVAIL && ++$tries < 1000;
    select(undef, undef, undef, 0.005);
  }
  listen($listener, 128) or die "cairn relay: listen: $!\n";
  nonblocking($listener);
  push @listeners, $listener; $path{fileno($listener)} = $path;
}
my (%handle, %peer, %pending, %ended, %shut);
sub forget { my $key = shift; close $handle{$key}; delete $handle{$key}; delete $peer{$key}; delete $pending{$key}; delete $ended{$key}; delete $shut{$key}; }
sub close_pair { my $key = shift; my $peer = $peer{$key}; forget($key) if exists $handle{$key}; forget($peer) if defined $peer && exists $handle{$peer}; }
sub finish {
  my $key = shift; my $peer = $peer{$key};
  if ($ended{$peer} && $pending{$key} eq '' && !$shut{$key}) { shutdown($handle{$key}, $SHUT_WR); $shut{$key} = 1; }
  close_pair($key) if $shut{$key} && $shut{$peer};
}
sub flush {
  my $key = shift;
  if ($pending{$key} ne '') {
    my $wrote = syswrite($handle{$key}, $pending{$key});
    if (!defined $wrote) { return if $! == EAGAIN || $! == EINTR; return close_pair($key); }
    substr($pending{$key}, 0, $wrote, '');
  }
  finish($key);
}
sub pump {
  my $key = shift; my $peer = $peer{$key};
  my $got = sysread($handle{$key}, my $data, 65536);
  if (!defined $got) { return if $! == EAGAIN || $! == EINTR; return close_pair($key); }
  if ($got == 0) { $ended{$key} = 1; return finish($peer); }
  $pending{$peer} .= $data;
  flush($peer);
}
while (1) {
  my ($readable, $writable) = ('', '');
  if (keys(%handle) < 2 * $most) { vec($readable, fileno($_), 1) = 1 for @listeners; }
  for my $key (keys %handle) {
    my $fd = fileno($handle{$key});
    vec($readable, $fd, 1) = 1 if !$ended{$key} && $pending{$peer{$key}} eq '';
    vec($writable, $fd, 1) = 1 if $pending{$key} ne '';
  }
  my $count = select($readable, $writable, undef, undef);
  if ($count < 0) { next if $! == EINTR; die "cairn relay: select: $!\n"; }
  # Existing pairs first: a socket accepted below may reuse the number of one closed here.
  for my $key (keys %handle) {
    next unless exists $handle{$key};
    my $fd = fileno($handle{$key});
    flush($key) if vec($writable, $fd, 1);
    pump($key) if exists $handle{$key} && vec($readable, $fd, 1);
  }
  for my $listener (@listeners) {
    next unless vec($readable, fileno($listener), 1);
    while (keys(%handle) < 2 * $most) {
      my $client;
      accept($client, $listener) or last;
      my $upstream;
      if (!socket($upstream, $AF_UNIX, $SOCK_STREAM, 0) || !connect($upstream, pack('S Z*', $AF_UNIX, $path{fileno($listener)}))) { close $client; next; }
      nonblocking($client); nonblocking($upstream);
      my ($a, $b) = ("$client", "$upstream");
      $handle{$a} = $client; $handle{$b} = $upstream; $peer{$a} = $b; $peer{$b} = $a;
      $pending{$a} = ''; $pending{$b} = ''; $ended{$a} = 0; $ended{$b} = 0; $shut{$a} = 0; $shut{$b} = 0;
  }
  }
}
`;
