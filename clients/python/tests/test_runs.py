"""Runs end to end against a real server: submit over a workspace, follow, read what they made."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import tempfile
import unittest
import uuid
from typing import Any, Dict, List

from cairn_client import TERMINAL_RUN_STATES, CairnError
from support import CuttingProxy, client, command, spec, write_files

# Enough output that a cut at a few hundred bytes lands mid-stream.
NUMBERS = "".join(f"{number}\n" for number in range(1, 1501))


class SubmittedRuns(unittest.TestCase):
    """Runs submitted once for the class; each test reads them its own way."""

    folder: str
    edit: Dict[str, Any]
    gate: Dict[str, Any]

    @classmethod
    def setUpClass(cls) -> None:
        cls.cairn = client()
        cls.folder = write_files(tempfile.mkdtemp(prefix="cairn-python-"), {"notes/hello.txt": "hello from python\n", "README.md": "# a workspace\n"})
        cls.edit_run = cls.cairn.submit(
            spec(
                "python-edit",
                [command('cat notes/hello.txt; echo "changed" >> notes/hello.txt; seq 1 1500; echo to-stderr >&2', id="edit")],
            ),
            workspace=cls.folder,
        )
        # Block-style YAML text, its own workspace replaced by the upload; two approval gates and a budget.
        yaml_spec = (
            "# gates\n"
            "version: 1\n"
            "name: python-gates\n"
            "workspace:\n"
            "  path: ignored-by-the-upload\n"
            "budget: { usd: 1 }\n"
            "items:\n"
            "  - id: approved\n"
            "    approval: required\n"
            "    runtime: { kind: command, argv: [cat, README.md] }\n"
            "  - id: rejected\n"
            "    approval: required\n"
            "    runtime: { kind: command, argv: [cat, README.md] }\n"
        )
        cls.yaml_spec = yaml_spec
        # A key of this test process: a server the tests ran against before keeps its runs.
        cls.idempotency_key = f"python-gates-{uuid.uuid4()}"
        cls.gate_run = cls.cairn.submit(yaml_spec, workspace=cls.folder, idempotency_key=cls.idempotency_key)
        # Submitted now so that its other item runs while the tests before it do.
        cls.cancel_item_run = cls.cairn.submit(spec("python-cancel-item", [command("true", id="gate", approval="required"), command("true", id="other")]))

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.folder, ignore_errors=True)

    def finished_edit(self) -> Dict[str, Any]:
        run = self.cairn.wait_for_run(self.edit_run["runId"], timeout=60)
        self.assertEqual(run["state"], "succeeded", json.dumps(run))
        return dict(run)

    def test_a_run_over_an_uploaded_folder_sees_its_files_and_its_patch_reads_back(self) -> None:
        run = self.finished_edit()
        self.assertEqual((run["itemsTotal"], run["itemsFinished"], run["itemsFailed"]), (1, 1, 0))
        [item] = self.cairn.items(run["runId"])
        self.assertEqual((item["itemId"], item["state"], item["failure"]), ("edit", "succeeded", None))
        patch = self.cairn.patch(run["runId"], "edit")
        self.assertIn("+++ b/notes/hello.txt", patch)
        self.assertIn("+changed", patch)
        [attempt] = self.cairn.attempts(run["runId"], "edit")
        self.assertEqual((attempt["attempt"], attempt["state"], attempt["exitCode"]), (1, "succeeded", 0))
        # The signed dispatch manifest, by its digest, checked against it.
        manifest = self.cairn.blob(attempt["manifestDigest"])
        self.assertEqual(f"sha256:{hashlib.sha256(manifest).hexdigest()}", attempt["manifestDigest"])
        submitted = self.cairn.run_spec(run["runId"])
        self.assertEqual(submitted["name"], "python-edit")
        self.assertEqual([entry["id"] for entry in submitted["items"]], ["edit"])

    def test_the_graph_of_a_run_is_its_items_by_position_paged(self) -> None:
        run = self.finished_edit()
        whole = self.cairn.graph(run["runId"])
        self.assertEqual([(node["itemId"], node["position"], node["state"], node["kind"]) for node in whole["nodes"]], [("edit", 0, "succeeded", "command")])
        self.assertEqual((whole["edges"], whole["groups"]), ([], []))
        page = self.cairn.graph_page(run["runId"], limit=1)
        self.assertEqual([node["itemId"] for node in page["nodes"]], ["edit"])
        self.assertNotIn("nextCursor", page)

    def test_a_patch_provenance_names_the_patch_by_digest_and_is_signed(self) -> None:
        run = self.finished_edit()
        bundle = self.cairn.provenance(run["runId"], "edit")
        self.assertEqual(bundle["mediaType"], "application/vnd.dev.sigstore.bundle.v0.3+json")
        envelope = bundle["dsseEnvelope"]
        self.assertEqual((envelope["payloadType"], len(envelope["signatures"])), ("application/vnd.in-toto+json", 1))
        statement = json.loads(base64.b64decode(envelope["payload"]))
        patch = self.cairn.patch(run["runId"], "edit").encode("utf-8")
        self.assertEqual(statement["subject"][0]["digest"], {"sha256": hashlib.sha256(patch).hexdigest()})

    def test_logs_come_whole_and_resume_after_a_cut_without_repeating_a_byte(self) -> None:
        run = self.finished_edit()
        lines = list(self.cairn.logs(run["runId"], "edit"))
        stdout = "".join(line["text"] for line in lines if "stream" in line and line["stream"] == "stdout")
        stderr = "".join(line["text"] for line in lines if "stream" in line and line["stream"] == "stderr")
        self.assertEqual(stdout, "hello from python\n" + NUMBERS)
        self.assertEqual(stderr, "to-stderr\n")
        self.assertEqual(lines[-1], {"end": {"attempt": 1, "state": "succeeded", "exitCode": 0, "finishedAt": lines[-1]["end"]["finishedAt"]}})  # type: ignore[typeddict-item]

        # The log once through the proxy, whole; then again, cut in its second line: the client
        # asks again from the bytes it has, and gets exactly the rest.
        proxy = CuttingProxy(self.cairn.base_url)
        try:
            through = client_through(proxy)
            self.assertEqual(list(through.logs(run["runId"], "edit", attempt=1)), lines)
            first_line_end = proxy.responses[0].index(b"}\n") + 2
            proxy.cut_after = [None, first_line_end + 10]
            resumed = list(through.logs(run["runId"], "edit", attempt=1))
        finally:
            proxy.close()
        self.assertEqual(resumed, lines)
        requests = [line for line in proxy.request_lines() if "/logs" in line]
        self.assertEqual(len(requests), 3, requests)
        self.assertRegex(requests[2], r"(stdoutFrom|stderrFrom)=[1-9]")


    def test_events_of_a_run_end_with_it_and_resume_after_an_id(self) -> None:
        run = self.finished_edit()
        events = list(self.cairn.events(run["runId"]))
        ids = [event["id"] for event in events]
        self.assertEqual(ids, sorted(set(ids)))
        self.assertEqual((events[0]["type"], events[0]["state"]), ("run.state", "queued"))
        self.assertEqual((events[-1]["type"], events[-1]["state"]), ("run.state", "succeeded"))
        self.assertIn(("attempt.state", "succeeded"), [(event["type"], event["state"]) for event in events])
        # Resumed after the second event: the rest, none twice.
        self.assertEqual([event["id"] for event in self.cairn.events(run["runId"], after=ids[1])], ids[2:])
        # Only the types asked for (the stream still ends with the run).
        self.assertEqual({event["type"] for event in self.cairn.events(run["runId"], types=["attempt.state"])}, {"attempt.state"})
        # Resumed past the run's last event: nothing, and the iterator ends.
        self.assertEqual(list(self.cairn.events(run["runId"], after=ids[-1])), [])

    def test_a_dropped_event_stream_is_reopened_with_last_event_id_and_nothing_repeats(self) -> None:
        run = self.finished_edit()
        expected = [event["id"] for event in self.cairn.events(run["runId"])]
        # The first connection is cut 450 bytes in: its head and one or two events, the next cut mid-frame.
        proxy = CuttingProxy(self.cairn.base_url, cut_after=[450])
        try:
            seen = [event["id"] for event in client_through(proxy).events(run["runId"])]
        finally:
            proxy.close()
        self.assertEqual(seen, expected)
        streams = [number for number, line in enumerate(proxy.request_lines()) if line.endswith("/events HTTP/1.1")]
        self.assertEqual(len(streams), 2, proxy.request_lines())
        last_before_cut = proxy.header(streams[1], "last-event-id")
        self.assertIsNotNone(last_before_cut)
        self.assertIn(int(last_before_cut or "-2"), expected[:-1])
        self.assertEqual(proxy.header(streams[0], "last-event-id"), "-1")

    def test_approval_gates_are_approved_and_rejected_and_the_yaml_spec_ran_over_the_upload(self) -> None:
        run_id = self.gate_run["runId"]
        # Waiting for a run blocked on approvals ends at the timeout with the run as it is.
        waiting = self.cairn.wait_for_run(run_id, timeout=0.5)
        self.assertNotIn(waiting["state"], TERMINAL_RUN_STATES)
        states = {item["itemId"]: item["state"] for item in self.cairn.items(run_id)}
        self.assertEqual(states, {"approved": "awaiting-approval", "rejected": "awaiting-approval"})
        # The same idempotency key returns the same run.
        again = self.cairn.submit(self.yaml_spec, workspace=self.folder, idempotency_key=self.idempotency_key)
        self.assertEqual((again["runId"], again["created"]), (run_id, False))
        with self.assertRaises(CairnError) as conflict:
            self.cairn.submit(spec("python-gates", [command("true", id="other")]), idempotency_key=self.idempotency_key)
        self.assertEqual(conflict.exception.code, "CAIRN_IDEMPOTENCY_CONFLICT")
        # The run's budget is raised (a run with a budget may get a new one).
        raised = self.cairn.raise_budget(run_id, {"usd": 2}, "python client test")
        self.assertEqual(raised["runId"], run_id)
        self.assertEqual(self.cairn.run(run_id).get("budget"), {"usd": 2})

        approved = self.cairn.approve(run_id, "approved", "looks right")
        self.assertEqual(approved["itemId"], "approved")
        rejected = self.cairn.reject(run_id, "rejected", "not today")
        self.assertEqual(rejected["itemId"], "rejected")
        seen: List[str] = []
        run = self.cairn.wait_for_run(run_id, timeout=60, on_event=lambda event: seen.append(event["type"]))
        self.assertEqual(run["state"], "failed")
        self.assertEqual({item["itemId"]: item["state"] for item in self.cairn.items(run_id)}, {"approved": "succeeded", "rejected": "failed"})
        self.assertEqual([failed["itemId"] for failed in run.get("failedItems", [])], ["rejected"])
        self.assertEqual((run.get("failedItems") or [{}])[0]["failure"]["code"], "CAIRN_APPROVAL_REJECTED")  # type: ignore[index]
        self.assertIn("item.state", seen)
        # The YAML spec's workspace was replaced by the uploaded snapshot, which the item read.
        snapshot = self.cairn.upload_workspace(self.folder)
        self.assertEqual(self.cairn.run_spec(run_id).get("workspace"), {"snapshot": snapshot["digest"]})  # type: ignore[call-overload]
        lines = list(self.cairn.logs(run_id, "approved"))
        self.assertEqual([line["text"] for line in lines if "stream" in line], ["# a workspace\n"])
        # Its audit entries name the approval and its reason.
        approvals = list(self.cairn.audit_entries(run_id=run_id, action="item.approved"))
        self.assertEqual(len(approvals), 1)
        self.assertEqual(approvals[0]["entity"]["id"], f"{run_id}/approved")
        self.assertEqual(approvals[0]["runId"], run_id)

    def test_a_cancelled_run_ends_cancelled(self) -> None:
        submitted = self.cairn.submit(spec("python-cancel", [command("sleep 30", id="sleeper")]))
        cancelled = self.cairn.cancel(submitted["runId"], "python client test")
        self.assertEqual(cancelled["runId"], submitted["runId"])
        run = self.cairn.wait_for_run(submitted["runId"], timeout=30)
        self.assertEqual(run["state"], "cancelled")

    def test_an_item_is_cancelled_on_its_own(self) -> None:
        submitted = self.cancel_item_run
        item = self.cairn.cancel_item(submitted["runId"], "gate", "not needed")
        self.assertEqual(item["itemId"], "gate")
        run = self.cairn.wait_for_run(submitted["runId"], timeout=30)
        self.assertEqual({entry["itemId"]: entry["state"] for entry in self.cairn.items(run["runId"])}, {"gate": "cancelled", "other": "succeeded"})

    def test_the_evidence_bundle_and_the_audit_log_are_read(self) -> None:
        run = self.finished_edit()
        bundle = json.loads(self.cairn.bundle(run["runId"]))
        self.assertEqual(bundle.get("format") or bundle.get("version") or bundle.get("kind"), bundle.get("format") or bundle.get("version") or bundle.get("kind"))
        self.assertIn(run["runId"], json.dumps(bundle))
        entries = list(self.cairn.audit_entries(run_id=run["runId"]))
        self.assertEqual(entries[0]["action"], "run.submitted")
        self.assertEqual([entry["seq"] for entry in entries], sorted(entry["seq"] for entry in entries))
        self.assertEqual([entry["seq"] for entry in self.cairn.audit_entries(run_id=run["runId"], from_seq=entries[1]["seq"], to_seq=entries[3]["seq"])], [entries[1]["seq"], entries[2]["seq"]])


def client_through(proxy: CuttingProxy):  # type: ignore[no-untyped-def]
    from support import server_settings
    from cairn_client import CairnClient

    return CairnClient(proxy.url, server_settings()["token"], reconnect_delay=0.05)


if __name__ == "__main__":
    unittest.main()
