"""The snapshot of a folder is byte for byte the one @cairn/client makes of it."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import unittest

from cairn_client import CairnError, write_workspace_snapshot
from cairn_client.workspace import tar_entry_header
from support import expected_snapshots


class SameAsTheTypeScriptClient(unittest.TestCase):
    def test_each_fixture_folder_gives_the_digest_length_and_count_of_its_typescript_snapshot(self) -> None:
        fixtures = expected_snapshots()
        self.assertGreaterEqual(len(fixtures), 3)
        for fixture in fixtures:
            with self.subTest(folder=fixture["name"], history=fixture["history"]):
                output = io.BytesIO()
                written = write_workspace_snapshot(fixture["folder"], output, history=fixture["history"])
                self.assertEqual(
                    (written.digest, written.bytes, written.entries),
                    (fixture["digest"], fixture["bytes"], fixture["entries"]),
                )
                self.assertEqual(f"sha256:{hashlib.sha256(output.getvalue()).hexdigest()}", fixture["digest"])

    def test_a_snapshot_reads_back_as_a_tar_with_its_modes_links_and_long_names(self) -> None:
        [fixture] = [entry for entry in expected_snapshots() if entry["name"] == "repository" and entry["history"] == 0]
        output = io.BytesIO()
        write_workspace_snapshot(fixture["folder"], output, history=0)
        members = {member.name: member for member in tarfile.open(fileobj=io.BytesIO(output.getvalue())).getmembers()}
        self.assertEqual(members["run.sh"].mode, 0o755)
        self.assertEqual(members["notes/hello.txt"].mode, 0o644)
        self.assertTrue(members["link"].issym())
        self.assertEqual(members["link"].linkname, "notes/hello.txt")
        self.assertTrue(any(len(name.encode()) > 100 for name in members))
        self.assertNotIn("build/out.txt", members)
        self.assertIn("untracked.txt", members)


class Refusals(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="cairn-python-snapshot-")

    def tearDown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def test_a_missing_folder_or_a_file_is_refused_naming_it(self) -> None:
        for path in (os.path.join(self.folder, "missing"), __file__):
            with self.assertRaises(CairnError) as caught:
                write_workspace_snapshot(path, io.BytesIO())
            self.assertEqual((caught.exception.code, caught.exception.path), ("CAIRN_PAYLOAD_INVALID", path))

    def test_a_fifo_is_refused_naming_its_path(self) -> None:
        os.mkfifo(os.path.join(self.folder, "pipe"))
        with self.assertRaises(CairnError) as caught:
            write_workspace_snapshot(self.folder, io.BytesIO())
        self.assertEqual((caught.exception.code, caught.exception.path), ("CAIRN_PAYLOAD_INVALID", "pipe"))

    def test_a_path_in_the_history_folder_is_refused(self) -> None:
        os.makedirs(os.path.join(self.folder, ".cairn-history"))
        with open(os.path.join(self.folder, ".cairn-history", "head"), "w") as file:
            file.write("x\n")
        with self.assertRaises(CairnError) as caught:
            write_workspace_snapshot(self.folder, io.BytesIO())
        self.assertEqual(caught.exception.path, ".cairn-history/head")

    def test_an_empty_folder_is_the_empty_snapshot(self) -> None:
        written = write_workspace_snapshot(self.folder, io.BytesIO())
        self.assertEqual((written.digest, written.bytes, written.entries), (f"sha256:{hashlib.sha256(b'').hexdigest()}", 0, 0))

    def test_a_header_reads_back_with_python_tarfile(self) -> None:
        name = "a/" + "b" * 120 + "/c.txt"
        data = tar_entry_header(name, size=3) + b"abc" + bytes(509) + bytes(1024)
        [member] = tarfile.open(fileobj=io.BytesIO(data)).getmembers()
        self.assertEqual((member.name, member.size, member.mtime, member.uid), (name, 3, 0, 0))


if __name__ == "__main__":
    unittest.main()
