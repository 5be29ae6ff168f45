"""
A folder's workspace snapshot, byte for byte the one ``@cairn/client``'s ``uploadWorkspace`` makes
(``writeWorkspaceSnapshot`` in ``@cairn/protocol/workspace``): a deterministic POSIX tar whose
sha256 digest names the content, so the same folder gives the same digest from either client and
an unchanged workspace is never uploaded twice. A test snapshots one folder with both and compares.

Inside a git work tree the snapshot holds what ``git ls-files --cached --others
--exclude-standard`` lists (tracked and untracked files that are not ignored), elsewhere every
file and symlink except ``.git`` folders; sorted by their UTF-8 bytes; mode 0644 or 0755, owner 0,
mtime 0; ustar headers with a pax ``path``/``linkpath`` record only for a name that does not fit.
At the top of a repository it also carries the last ``history`` commits (a git pack), which the
worker makes the history of the workspace's own ``.git``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Iterator, List, Optional, Sequence, Tuple

from .errors import CairnError

BLOCK = 512
# The largest size an 11-digit octal field holds (8 GiB - 1).
MAXIMUM_FILE_BYTES = 0o77777777777
HISTORY_FOLDER = ".cairn-history"
DEFAULT_HISTORY_DEPTH = 50
_CHUNK_BYTES = 1024 * 1024

# Settings passed on every git command line, as the TypeScript client passes them, so that
# nothing read from disk (hooks, fsmonitor, line-ending rewriting) changes what git lists or packs.
_GIT_HARDENING = [
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.autocrlf=false",
    "core.safecrlf=false",
    "core.symlinks=true",
    "core.fileMode=true",
    "core.ignoreCase=false",
    "core.precomposeUnicode=false",
    "core.untrackedCache=false",
    "core.protectNTFS=true",
    "core.protectHFS=true",
    "core.quotePath=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "commit.gpgSign=false",
    "advice.addEmbeddedRepo=false",
    "init.defaultBranch=cairn",
    "user.name=Cairn worker",
    "user.email=worker@cairn.invalid",
]
_COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")
# Code points macOS (HFS+) ignores in file names: `.g\u200cit` is `.git` there.
_HFS_IGNORABLE = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


@dataclass(frozen=True)
class WrittenSnapshot:
    """What ``write_workspace_snapshot`` wrote: the snapshot's digest, its length in bytes, and how many files and symlinks it holds."""

    digest: str
    bytes: int
    entries: int


def write_workspace_snapshot(directory: str, destination: BinaryIO, history: int = 0) -> WrittenSnapshot:
    """
    Writes the snapshot of ``directory`` to ``destination`` and hashes it on the way; files are
    read one at a time in chunks, so memory stays small whatever the folder's size. Raises
    CAIRN_PAYLOAD_INVALID naming the folder or the path a snapshot cannot hold (before anything is
    written), or a file that changed while it was read.
    """
    digest = hashlib.sha256()
    length = 0
    tally = [0]
    for chunk in _snapshot_chunks(directory, tally, history):
        digest.update(chunk)
        length += len(chunk)
        destination.write(chunk)
    return WrittenSnapshot(digest=f"sha256:{digest.hexdigest()}", bytes=length, entries=tally[0])


def is_git_metadata_name(segment: str) -> bool:
    """Whether a path segment names git metadata on some file system: `.git` in any case, with trailing dots or spaces, HFS-ignorable code points, or as `GIT~1`."""
    folded = _HFS_IGNORABLE.sub("", segment).lower()
    return re.fullmatch(r"\.git[. ]*", folded) is not None or re.fullmatch(r"git~\d+", folded) is not None


def workspace_path_problem(path: str) -> Optional[str]:
    """What is wrong with a workspace-relative path, or None for a plain path inside the workspace and outside git metadata."""
    if path == "":
        return "is empty"
    if "\0" in path:
        return "contains a NUL byte"
    if path.startswith("/"):
        return "is absolute"
    for segment in path.split("/"):
        if segment == "":
            return "has an empty segment"
        if segment in (".", ".."):
            return f'has a "{segment}" segment'
        if is_git_metadata_name(segment):
            return f'is inside git metadata ("{segment}")'
    return None


def _refuse(directory: str, path: str, problem: str) -> CairnError:
    quoted = _json_string(path)
    return CairnError(
        "CAIRN_PAYLOAD_INVALID",
        f"Cannot snapshot {quoted} in {directory}: it {problem}. Remove it or ignore it in .gitignore.",
        path=path,
    )


def _json_string(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _git(directory: str, args: Sequence[str], stdin: Optional[bytes] = None, stdout: Optional[BinaryIO] = None) -> Tuple[int, bytes, str]:
    """Runs git as the TypeScript client does: no global or system configuration, no inherited GIT_* variables, C messages."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "LC_ALL": "C",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_DATE": "@0 +0000",
        "GIT_COMMITTER_DATE": "@0 +0000",
    }
    command = ["git"] + [part for setting in _GIT_HARDENING for part in ("-c", setting)] + list(args)
    completed = subprocess.run(
        command,
        cwd=directory,
        env=environment,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=False,
    )
    return completed.returncode, completed.stdout or b"", completed.stderr.decode("utf-8", "replace")[: 16 * 1024].strip()


def _utf8(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def list_workspace_paths(directory: str) -> List[str]:
    """The paths a snapshot of ``directory`` holds, in its order, each checked before any is read."""
    try:
        status = os.stat(directory)
    except FileNotFoundError as error:
        raise CairnError(
            "CAIRN_PAYLOAD_INVALID",
            f"Cannot snapshot the workspace {directory}: there is no such folder. Name the folder to run over (--workspace <dir>).",
            path=directory,
        ) from error
    except PermissionError as error:
        raise CairnError(
            "CAIRN_PAYLOAD_INVALID",
            f"Cannot snapshot the workspace {directory}: it cannot be read (permission denied). Name the folder to run over (--workspace <dir>).",
            path=directory,
        ) from error
    if not stat.S_ISDIR(status.st_mode):
        raise CairnError(
            "CAIRN_PAYLOAD_INVALID",
            f"Cannot snapshot the workspace {directory}: it is not a folder. Name the folder to run over (--workspace <dir>).",
            path=directory,
        )
    paths = _git_listed_paths(directory)
    if paths is None:
        paths = _walked_paths(directory)
    paths.sort(key=_utf8)
    for path in paths:
        problem = workspace_path_problem(path)
        if problem is not None:
            raise _refuse(directory, path, problem)
        if path == HISTORY_FOLDER or path.startswith(f"{HISTORY_FOLDER}/"):
            raise _refuse(directory, path, f"lies in {HISTORY_FOLDER}, where a snapshot carries its repository's history")
    return paths


def _git_listed_paths(directory: str) -> Optional[List[str]]:
    try:
        code, out, _ = _git(directory, ["rev-parse", "--is-inside-work-tree"])
    except FileNotFoundError:
        return None  # no git on this machine: the folder is walked, as outside a repository
    if code != 0 or out.decode().strip() != "true":
        return None
    code, out, error = _git(directory, ["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    if code != 0:
        raise CairnError(
            "CAIRN_PAYLOAD_INVALID",
            f"Could not list the files of the git work tree {directory}: {error}. Check the repository with `git status`.",
            path=directory,
        )
    # Duplicates (a file both cached and listed again while merging) are held once, first seen first.
    listed = dict.fromkeys(name for name in out.decode("utf-8", "surrogateescape").split("\0") if name != "")
    return list(listed)


def _walked_paths(directory: str) -> List[str]:
    paths: List[str] = []

    def visit(folder: str) -> None:
        with os.scandir(folder) as children:
            for child in children:
                if is_git_metadata_name(child.name):
                    continue
                if child.is_dir(follow_symlinks=False):
                    visit(child.path)
                else:
                    paths.append(os.path.relpath(child.path, directory).replace(os.sep, "/"))

    visit(directory)
    return paths


@dataclass(frozen=True)
class _History:
    head: str
    shallow: List[str]
    pack_file: str
    folder: str


def _collect_history(directory: str, depth: int) -> Optional[_History]:
    """The last ``depth`` commits of HEAD, packed; None outside a repository, below its top, before its first commit, or for a SHA-256 one."""
    if depth < 1:
        return None
    try:
        code, out, _ = _git(directory, ["rev-parse", "--show-object-format", "--show-toplevel"])
    except FileNotFoundError:
        return None
    lines = out.decode().strip().split("\n")
    if code != 0 or lines[0] != "sha1" or len(lines) < 2:
        return None
    # A folder below the top holds only its part of the tree; the history's trees would be all of it.
    if os.path.realpath(lines[1]) != os.path.realpath(directory):
        return None
    code, out, _ = _git(directory, ["rev-list", "--parents", f"--max-count={depth}", "HEAD"])
    if code != 0:
        return None
    rows = [line.split(" ") for line in out.decode().split("\n") if line != ""]
    if not rows or not _COMMIT_ID.match(rows[0][0]):
        return None
    head = rows[0][0]
    kept = {row[0] for row in rows}
    shallow = sorted(row[0] for row in rows if any(parent not in kept for parent in row[1:]))
    folder = tempfile.mkdtemp(prefix="cairn-history-")
    try:
        pack_file = os.path.join(folder, "history.pack")
        descriptor = os.open(pack_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as output:
            code, _, error = _git(
                directory,
                ["-c", "pack.threads=1", "-c", "pack.window=0", "pack-objects", "--revs", "--stdout", "--shallow", "--quiet"],
                stdin=(head + "\n" + "".join(f"--shallow {commit}\n" for commit in shallow)).encode(),
                stdout=output,
            )
        if code != 0:
            raise CairnError(
                "CAIRN_PAYLOAD_INVALID",
                f"Could not pack the history of the git repository at {directory}: {error or f'git pack-objects exited with {code}'}. "
                "Check it with `git fsck`, or snapshot without history (history=0).",
                path=directory,
            )
        return _History(head=head, shallow=shallow, pack_file=pack_file, folder=folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _snapshot_chunks(directory: str, tally: List[int], history_depth: int) -> Iterator[bytes]:
    paths = list_workspace_paths(directory)
    history = _collect_history(directory, history_depth)
    try:
        gathered = _Gatherer()
        for path in paths:
            absolute = os.path.join(directory, path)
            try:
                status = os.lstat(absolute)
            except (FileNotFoundError, NotADirectoryError):
                continue  # gone since it was listed
            if stat.S_ISDIR(status.st_mode):
                continue  # a submodule: git lists it as one path
            tally[0] += 1
            if stat.S_ISLNK(status.st_mode):
                yield from gathered.add(tar_entry_header(path, symlink_target=os.readlink(absolute)))
                continue
            if not stat.S_ISREG(status.st_mode):
                raise _refuse(directory, path, "is not a regular file, directory or symlink (a FIFO, socket or device)")
            executable = (status.st_mode & 0o100) != 0
            yield from gathered.add(tar_entry_header(path, size=status.st_size, executable=executable))
            for chunk in _file_chunks(directory, path, absolute, status.st_size):
                yield from gathered.add(chunk)
            yield from gathered.add(tar_padding(status.st_size))
        if history is not None:
            for name, text in ((f"{HISTORY_FOLDER}/head", history.head + "\n"), (f"{HISTORY_FOLDER}/shallow", "".join(f"{commit}\n" for commit in history.shallow))):
                content = text.encode()
                yield from gathered.add(tar_entry_header(name, size=len(content)))
                yield from gathered.add(content)
                yield from gathered.add(tar_padding(len(content)))
            pack_bytes = os.path.getsize(history.pack_file)
            yield from gathered.add(tar_entry_header(f"{HISTORY_FOLDER}/pack", size=pack_bytes))
            for chunk in _file_chunks(directory, f"{HISTORY_FOLDER}/pack", history.pack_file, pack_bytes):
                yield from gathered.add(chunk)
            yield from gathered.add(tar_padding(pack_bytes))
        if tally[0] > 0 or history is not None:
            yield from gathered.add(bytes(BLOCK * 2))
        yield from gathered.flush()
    finally:
        if history is not None:
            shutil.rmtree(history.folder, ignore_errors=True)


def _file_chunks(directory: str, path: str, absolute: str, size: int) -> Iterator[bytes]:
    """Exactly ``size`` bytes of a file opened without following a link; a file that changed meanwhile is refused (its header already says its length)."""

    def changed(how: str) -> CairnError:
        return CairnError(
            "CAIRN_PAYLOAD_INVALID",
            f"Cannot snapshot {_json_string(path)} in {directory}: it {how} while it was being snapshotted. Snapshot again once nothing writes to the folder.",
            path=path,
        )

    try:
        descriptor = os.open(absolute, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except (FileNotFoundError, OSError) as error:
        raise changed("was removed or replaced") from error
    with os.fdopen(descriptor, "rb", buffering=0) as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode) or status.st_size != size:
            raise changed("changed")
        remaining = size
        while remaining > 0:
            chunk = handle.read(min(_CHUNK_BYTES, remaining))
            if not chunk:
                raise changed("became shorter")
            remaining -= len(chunk)
            yield chunk
        if handle.read(1):
            raise changed("became longer")


class _Gatherer:
    """Gathers small pieces (headers, small files, padding) into chunks of about a MiB, so writes stay few."""

    def __init__(self) -> None:
        self._pieces: List[bytes] = []
        self._length = 0

    def add(self, piece: bytes) -> Iterator[bytes]:
        if not piece:
            return
        self._pieces.append(piece)
        self._length += len(piece)
        if self._length >= _CHUNK_BYTES:
            yield from self.flush()

    def flush(self) -> Iterator[bytes]:
        if self._length == 0:
            return
        pieces, self._pieces, self._length = self._pieces, [], 0
        yield b"".join(pieces)


def tar_entry_header(path: str, size: int = 0, executable: bool = False, symlink_target: Optional[str] = None) -> bytes:
    """
    The blocks before a member's content: a pax header and its records when a name does not fit
    ustar, then the ustar header. A file's content follows, then ``tar_padding(size)``.
    """
    name_bytes = _utf8(path)
    target = _utf8(symlink_target) if symlink_target is not None else b""
    split = _split_path(name_bytes)
    records: List[bytes] = []
    if split is None:
        records.append(_pax_record("path", name_bytes))
    if len(target) > 100:
        records.append(_pax_record("linkpath", target))
    blocks: List[bytes] = []
    if records:
        body = b"".join(records)
        blocks.append(_header(b"PaxHeader", b"", "x", 0o644, len(body), b""))
        blocks.append(body)
        blocks.append(tar_padding(len(body)))
    name, prefix = split if split is not None else (name_bytes[:100], b"")
    link = b"" if len(target) > 100 else target
    if symlink_target is None:
        if size > MAXIMUM_FILE_BYTES:
            raise CairnError("CAIRN_PAYLOAD_INVALID", f"Cannot snapshot {_json_string(path)}: it is larger than a snapshot file may be (8 GiB).", path=path)
        blocks.append(_header(name, prefix, "0", 0o755 if executable else 0o644, size, link))
    else:
        blocks.append(_header(name, prefix, "2", 0o777, 0, link))
    return b"".join(blocks)


def tar_padding(size: int) -> bytes:
    """The zero bytes that fill ``size`` bytes of content up to a whole block."""
    remainder = size % BLOCK
    return bytes(0 if remainder == 0 else BLOCK - remainder)


def _split_path(path: bytes) -> Optional[Tuple[bytes, bytes]]:
    """(name, prefix) split at a `/` so both fit ustar, or None when no split fits."""
    if len(path) <= 100:
        return path, b""
    slash = path.find(b"/", len(path) - 101)
    while slash != -1 and slash <= 155:
        rest = len(path) - slash - 1
        if slash > 0 and 0 < rest <= 100:
            return path[slash + 1 :], path[:slash]
        slash = path.find(b"/", slash + 1)
    return None


def _pax_record(key: str, value: bytes) -> bytes:
    """A pax record: its decimal length counts its own digits."""
    body = b" " + key.encode() + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def _octal(value: int, width: int) -> bytes:
    return format(value, "o").rjust(width - 1, "0").encode() + b"\0"


def _header(name: bytes, prefix: bytes, kind: str, mode: int, size: int, link: bytes) -> bytes:
    block = bytearray(BLOCK)
    block[0 : len(name)] = name
    block[100:108] = _octal(mode, 8)
    block[108:116] = _octal(0, 8)
    block[116:124] = _octal(0, 8)
    block[124:136] = _octal(size, 12)
    block[136:148] = _octal(0, 12)
    block[156] = ord(kind)
    block[157 : 157 + len(link)] = link
    block[257:265] = b"ustar\x0000"
    block[329:337] = _octal(0, 8)
    block[337:345] = _octal(0, 8)
    block[345 : 345 + len(prefix)] = prefix
    # The checksum is computed with its own field read as spaces.
    block[148:156] = b" " * 8
    checksum = sum(block)
    block[148:156] = format(checksum, "o").rjust(6, "0").encode() + b"\0 "
    return bytes(block)
