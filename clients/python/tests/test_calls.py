"""Calls that need no run to finish: errors, listings, blobs, administration, against a real server."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import time
import unittest
import uuid

from cairn_client import CairnClient, CairnError
from support import CuttingProxy, client, command, server_settings, spec, write_files


def closed_port_url() -> str:
    """A loopback URL nothing listens on (a port bound, then released)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Errors(unittest.TestCase):
    def test_an_error_answer_is_a_cairn_error_with_its_code_message_path_and_action(self) -> None:
        with self.assertRaises(CairnError) as caught:
            client().run("r-that-does-not-exist")
        error = caught.exception
        self.assertEqual((error.code, error.path, error.status), ("CAIRN_NOT_FOUND", "runId", 404))
        self.assertIn("r-that-does-not-exist", error.message)
        self.assertTrue(error.action)

    def test_a_spec_the_server_refuses_names_each_problem_with_its_json_path(self) -> None:
        with self.assertRaises(CairnError) as caught:
            client().submit({"version": 1, "name": "python-invalid", "items": [{"id": "a", "dependsOn": ["missing"], "runtime": {"kind": "command", "argv": ["true"]}}]})
        error = caught.exception
        self.assertEqual(error.code, "CAIRN_RUN_SPEC_INVALID")
        self.assertTrue(any("missing" in issue["message"] for issue in error.issues), error.issues)
        self.assertTrue(all(isinstance(issue.get("path"), str) for issue in error.issues), error.issues)

    def test_yaml_the_server_cannot_parse_is_unparsable(self) -> None:
        with self.assertRaises(CairnError) as caught:
            client().submit("version: 1\nname: [unclosed\n")
        self.assertEqual(caught.exception.code, "CAIRN_RUN_SPEC_UNPARSABLE")

    def test_a_wrong_token_is_unauthenticated_and_a_narrow_one_forbidden(self) -> None:
        with self.assertRaises(CairnError) as caught:
            CairnClient(server_settings()["server"], "cairn_000000000000_not-a-real-secret").runs()
        self.assertEqual(caught.exception.code, "CAIRN_UNAUTHENTICATED")
        created = client().create_token(f"python-reader-{uuid.uuid4().hex[:8]}", ["runs:read"])
        reader = CairnClient(server_settings()["server"], created["token"])
        self.assertEqual(reader.session()["actor"]["id"], f"token:{created['record']['id']}")
        with self.assertRaises(CairnError) as forbidden:
            reader.submit(spec("python-forbidden", [command("true", id="a")]))
        self.assertEqual(forbidden.exception.code, "CAIRN_FORBIDDEN")
        revoked = client().revoke_token(created["record"]["id"])
        self.assertIn("revokedAt", revoked)
        with self.assertRaises(CairnError) as after:
            reader.runs()
        self.assertEqual(after.exception.code, "CAIRN_UNAUTHENTICATED")

    def test_a_server_that_cannot_be_reached_is_unreachable_naming_the_url(self) -> None:
        url = closed_port_url()
        with self.assertRaises(CairnError) as caught:
            CairnClient(url).run("r-1")
        self.assertEqual(caught.exception.code, "CAIRN_SERVER_UNREACHABLE")
        self.assertIn(f"{url}/v1/runs/r-1", caught.exception.message)
        self.assertIn("ECONNREFUSED", caught.exception.message)

    def test_events_from_a_dead_server_give_up_after_the_reconnects_allowed(self) -> None:
        started = time.monotonic()
        with self.assertRaises(CairnError) as caught:
            next(iter(CairnClient(closed_port_url(), reconnect_delay=0.01, reconnect_attempts=3).events()))
        self.assertEqual(caught.exception.code, "CAIRN_SERVER_UNREACHABLE")
        self.assertIn("after 4 attempts in a row", caught.exception.message)
        self.assertLess(time.monotonic() - started, 5)

    def test_bad_settings_are_config_invalid_naming_the_setting(self) -> None:
        for settings, path in (({"base_url": "ftp://example"}, "base_url"), ({"base_url": "http://127.0.0.1:1", "timeout": 0}, "timeout")):
            with self.assertRaises(CairnError) as caught:
                CairnClient(**settings)  # type: ignore[arg-type]
            self.assertEqual((caught.exception.code, caught.exception.path), ("CAIRN_CONFIG_INVALID", path))

    def test_a_folder_that_cannot_be_snapshotted_is_refused_before_anything_is_sent(self) -> None:
        proxy = CuttingProxy(server_settings()["server"])
        try:
            through = CairnClient(proxy.url, server_settings()["token"])
            with self.assertRaises(CairnError) as missing:
                through.submit(spec("python-missing", [command("true", id="a")]), workspace="/nonexistent/cairn-python")
            self.assertEqual((missing.exception.code, missing.exception.path), ("CAIRN_PAYLOAD_INVALID", "/nonexistent/cairn-python"))
            with self.assertRaises(CairnError) as flow:
                through.submit("{version: 1, name: flow, items: []}", workspace=tempfile.gettempdir())
            self.assertEqual((flow.exception.code, flow.exception.path), ("CAIRN_RUN_SPEC_UNPARSABLE", "workspace"))
        finally:
            proxy.close()
        self.assertEqual(proxy.request_lines(), [])


class Listings(unittest.TestCase):
    def test_runs_are_listed_newest_first_a_page_at_a_time_and_filtered(self) -> None:
        cairn = client()
        name = f"python-list-{uuid.uuid4().hex[:8]}"
        submitted = [cairn.submit(spec(name, [command("true", id="a", approval="required")]))["runId"] for _ in range(3)]
        first = cairn.runs(name=name, limit=2)
        self.assertEqual([run["runId"] for run in first["runs"]], submitted[::-1][:2])
        self.assertIn("nextCursor", first)
        every = [run["runId"] for run in cairn.all_runs(name=name, limit=2)]
        self.assertEqual(every, submitted[::-1])
        self.assertEqual(cairn.runs(name=name, state="succeeded")["runs"], [])
        for run_id in submitted:
            cairn.cancel(run_id)

    def test_health_readiness_and_session(self) -> None:
        cairn = client()
        self.assertEqual(cairn.health(), {"ok": True})
        readiness = cairn.readiness()
        self.assertTrue(readiness["ready"])
        self.assertIsInstance(readiness["auditEntries"], int)
        session = cairn.session()
        self.assertEqual(session["auth"], "tokens")
        self.assertIn("runs.submit", session["actions"])


class Blobs(unittest.TestCase):
    def test_bytes_are_stored_by_digest_checked_and_read_back(self) -> None:
        cairn = client()
        data = f"python blob {uuid.uuid4()}".encode()
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        self.assertFalse(cairn.has_blob(digest))
        self.assertEqual(cairn.upload_blob(data), {"digest": digest, "bytes": len(data)})
        self.assertTrue(cairn.has_blob(digest))
        self.assertEqual(cairn.blob(digest), data)

    def test_a_workspace_the_server_holds_is_not_uploaded_again(self) -> None:
        folder = write_files(tempfile.mkdtemp(prefix="cairn-python-"), {"a.txt": f"{uuid.uuid4()}\n", "bin/tool": "#!/bin/sh\n"})
        os.chmod(os.path.join(folder, "bin/tool"), 0o755)
        proxy = CuttingProxy(server_settings()["server"])
        try:
            through = CairnClient(proxy.url, server_settings()["token"])
            first = through.upload_workspace(folder)
            second = through.upload_workspace(folder)
        finally:
            proxy.close()
            shutil.rmtree(folder, ignore_errors=True)
        self.assertEqual(first, second)
        self.assertEqual(first["entries"], 2)
        self.assertEqual([line.split(" ")[0] + " " + line.split(" ")[1].split("/sha256")[0] for line in proxy.request_lines()], ["HEAD /v1/blobs", "POST /v1/blobs", "HEAD /v1/blobs"])


class Administration(unittest.TestCase):
    def test_secrets_are_set_listed_and_removed_never_read_back(self) -> None:
        cairn = client()
        name = f"PYTHON_{uuid.uuid4().hex[:8].upper()}"
        first = cairn.set_secret(name, "s3cret")
        self.assertEqual((first["name"], first["version"]), (name, 1))
        self.assertEqual(cairn.set_secret(name, "other")["version"], 2)
        listed = [secret for secret in cairn.secrets() if secret["name"] == name]
        self.assertEqual(len(listed), 1)
        self.assertNotIn("s3cret", str(listed))
        cairn.remove_secret(name)
        self.assertEqual([secret for secret in cairn.secrets() if secret["name"] == name], [])

    def test_schedules_are_added_listed_and_removed(self) -> None:
        cairn = client()
        schedule_id = f"python-{uuid.uuid4().hex[:8]}"
        added = cairn.add_schedule(schedule_id, "0 3 * * *", spec("nightly", [command("true", id="a")]), time_zone="UTC", overlap="skip")
        self.assertEqual((added["scheduleId"], added["cron"], added["timeZone"]), (schedule_id, "0 3 * * *", "UTC"))
        self.assertIn(schedule_id, [schedule["scheduleId"] for schedule in cairn.schedules()])
        cairn.remove_schedule(schedule_id)
        self.assertNotIn(schedule_id, [schedule["scheduleId"] for schedule in cairn.schedules()])

    def test_webhooks_are_added_read_listed_and_removed(self) -> None:
        cairn = client()
        added = cairn.add_webhook("https://example.invalid/cairn", events=["run.state"], description="python client test")
        self.assertTrue(added["secret"].startswith("whsec_"))
        read = cairn.webhook(added["webhookId"])
        self.assertEqual((read["url"], read["events"], read["description"]), ("https://example.invalid/cairn", ["run.state"], "python client test"))
        self.assertNotIn("secret", read)
        self.assertIn(added["webhookId"], [webhook["webhookId"] for webhook in cairn.webhooks()])
        self.assertIsInstance(cairn.webhook_deliveries(added["webhookId"]), list)
        cairn.remove_webhook(added["webhookId"])
        with self.assertRaises(CairnError) as caught:
            cairn.webhook(added["webhookId"])
        self.assertEqual(caught.exception.code, "CAIRN_NOT_FOUND")

    def test_tokens_are_listed_and_a_sign_in_code_is_made(self) -> None:
        cairn = client()
        self.assertTrue(all("id" in token and "token" not in token for token in cairn.tokens()))
        code = cairn.create_sign_in_code(["runs:read"])
        self.assertEqual(code["scopes"], ["runs:read"])
        self.assertTrue(code["code"])


if __name__ == "__main__":
    unittest.main()
