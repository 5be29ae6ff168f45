"""The Cairn server's HTTP API as typed calls."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union
from urllib.parse import quote, urlencode

from ._http import Answer, Transport, read_json, unreachable
from ._operations import operation
from ._run_spec import spec_with_snapshot
from ._server_sent_events import lines_of, messages_of
from .errors import CairnError
from .types import (
    Attempt,
    AuditEntry,
    Budget,
    CreatedToken,
    CreatedWebhook,
    Event,
    Health,
    Item,
    LogLine,
    Readiness,
    Run,
    ProvenanceBundle,
    RunGraphPage,
    RunPage,
    RunTrajectories,
    Runner,
    RunState,
    Schedule,
    Secret,
    Session,
    SignInCode,
    StoredBlob,
    SubmitResult,
    SubmittedSpec,
    Token,
    UploadedWorkspace,
    Webhook,
    WebhookDelivery,
)
from .workspace import DEFAULT_HISTORY_DEPTH, write_workspace_snapshot

TERMINAL_RUN_STATES = frozenset({"succeeded", "failed", "cancelled"})
# A server may ask for a slower reconnect (`retry:`); not for one slower than this.
_MAXIMUM_RECONNECT_DELAY = 30.0

RunSpecInput = Union[str, Mapping[str, Any]]


def _segment(value: str) -> str:
    return quote(value, safe="")


def _query(parameters: Mapping[str, Any]) -> str:
    kept = {name: str(value) for name, value in parameters.items() if value is not None}
    return f"?{urlencode(kept)}" if kept else ""


class CairnClient:
    """
    A Cairn server's API. Every error the server answers is raised as the CairnError it reported
    (``code``, ``message``, ``path``, ``action``, ``issues``); a server that cannot be reached is
    CAIRN_SERVER_UNREACHABLE naming the URL. Streams (``events``, ``logs``) are iterators that
    reconnect after a dropped connection and resume exactly where they were, and give up after
    ``reconnect_attempts`` failed reconnects in a row. Calls are blocking; one client may be used
    from several threads (each request has its own connection).

    ``base_url``: the server, e.g. ``http://127.0.0.1:7600``. ``token``: a bearer token (``cairn
    token create``); None for a loopback-operator server. ``timeout``: seconds to wait for an
    answer (and, on a stream, for its next bytes: the server sends a keep-alive every 15 s).
    """

    def __init__(
        self,
        base_url: str,
        token: Optional[str] = None,
        *,
        timeout: float = 60.0,
        reconnect_delay: float = 0.5,
        reconnect_attempts: int = 10,
    ) -> None:
        if not 0 < timeout <= 3600:
            raise CairnError("CAIRN_CONFIG_INVALID", f'[cairn] [client] invalid setting "timeout": {timeout!r} must be more than 0 and at most 3600 seconds', path="timeout")
        if not 0 <= reconnect_delay <= 60:
            raise CairnError("CAIRN_CONFIG_INVALID", f'[cairn] [client] invalid setting "reconnect_delay": {reconnect_delay!r} must be 0 to 60 seconds', path="reconnect_delay")
        if not 0 <= reconnect_attempts <= 1000:
            raise CairnError("CAIRN_CONFIG_INVALID", f'[cairn] [client] invalid setting "reconnect_attempts": {reconnect_attempts!r} must be 0 to 1000', path="reconnect_attempts")
        self._transport = Transport(base_url, token, timeout)
        self._reconnect_delay = reconnect_delay
        self._reconnect_attempts = reconnect_attempts

    @classmethod
    def from_environment(cls, **settings: Any) -> "CairnClient":
        """A client of the server in CAIRN_SERVER (default ``http://127.0.0.1:7600``) with the token in CAIRN_TOKEN, as the ``cairn`` CLI reads them."""
        return cls(os.environ.get("CAIRN_SERVER") or "http://127.0.0.1:7600", os.environ.get("CAIRN_TOKEN") or None, **settings)

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    # Runs

    @operation("submitRun")
    def submit(
        self,
        spec: RunSpecInput,
        *,
        workspace: Optional[str] = None,
        history: int = DEFAULT_HISTORY_DEPTH,
        idempotency_key: Optional[str] = None,
    ) -> SubmitResult:
        """
        Submits a run: a spec (``cairn.run/v1``) as a dict, or its YAML or JSON text; the same
        idempotency key returns the same run (``created`` False). With ``workspace``, the run works
        on a snapshot of that folder: it is uploaded as ``upload_workspace`` uploads it (with the
        last ``history`` commits of its repository) and named as ``workspace: {snapshot}`` in place
        of the spec's own ``workspace``. The server checks the spec (CAIRN_RUN_SPEC_* with the JSON
        path of each problem); a spec written so the client cannot set its workspace (flow-style
        YAML) is CAIRN_RUN_SPEC_UNPARSABLE before anything is uploaded.
        """
        if workspace is not None:
            # Edited once with a stand-in digest first: a spec the client cannot edit costs no upload.
            spec_with_snapshot(spec, "sha256:" + "0" * 64)
            snapshot = self.upload_workspace(workspace, history=history)
            body, content_type = spec_with_snapshot(spec, snapshot["digest"])
        elif isinstance(spec, str):
            body, content_type = spec, "application/yaml"
        else:
            body, content_type = json.dumps(dict(spec)), "application/json"
        headers = {"content-type": content_type}
        if idempotency_key is not None:
            headers["idempotency-key"] = idempotency_key
        return read_json(self._transport.open("POST", "/v1/runs", body.encode("utf-8"), headers), "POST", self._transport.url("/v1/runs"))

    @operation("getRun")
    def run(self, run_id: str) -> Run:
        """A run: its state and item counts, why items failed, what its model calls spent, its budget. CAIRN_NOT_FOUND for an unknown id."""
        return self._transport.json("GET", f"/v1/runs/{_segment(run_id)}")

    @operation("listRuns")
    def runs(
        self,
        *,
        state: Optional[RunState] = None,
        name: Optional[str] = None,
        submitter: Optional[str] = None,
        submitted_after: Optional[str] = None,
        submitted_before: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> RunPage:
        """
        One page of runs, newest first (``limit`` 1 to 500, 50 by default), kept by state, exact
        name, submitter (an actor id) and submit time (RFC 3339; after inclusive, before
        exclusive); pass ``nextCursor`` back as ``cursor``, with the same filters, for the next.
        """
        parameters = {
            "state": state,
            "name": name,
            "submitter": submitter,
            "submittedAfter": submitted_after,
            "submittedBefore": submitted_before,
            "limit": limit,
            "cursor": cursor,
        }
        return self._transport.json("GET", f"/v1/runs{_query(parameters)}")

    def all_runs(self, **filters: Any) -> Iterator[Run]:
        """Every run, newest first, page after page as the caller takes them; takes ``runs()``'s filters (``limit`` is the page size)."""
        cursor: Optional[str] = None
        while True:
            page = self.runs(**filters, cursor=cursor)
            yield from page["runs"]
            cursor = page.get("nextCursor")
            if cursor is None:
                return

    @operation("getRunSpec")
    def run_spec(self, run_id: str) -> SubmittedSpec:
        """The spec a run was submitted with, in canonical form."""
        return self._transport.json("GET", f"/v1/runs/{_segment(run_id)}/spec")

    @operation("cancelRun")
    def cancel(self, run_id: str, reason: Optional[str] = None) -> Run:
        """Cancels a run (running items are stopped); ``reason`` is kept in its audit entries."""
        return self._transport.json("POST", f"/v1/runs/{_segment(run_id)}/cancel", _reason(reason))

    @operation("raiseRunBudget")
    def raise_budget(self, run_id: str, budget: Budget, reason: str) -> Run:
        """
        Gives a run a new budget: the limits in ``budget`` (``usd``, ``tokens``) replace the run's,
        each more than it has spent; ``reason`` is kept in the audit entry. A run awaiting a raise
        runs again. Needs the ``runs:budget`` scope.
        """
        return self._transport.json("POST", f"/v1/runs/{_segment(run_id)}/budget", {"budget": dict(budget), "reason": reason})

    # Items

    @operation("listRunItems")
    def items(self, run_id: str) -> List[Item]:
        """A run's items, with their states and why each failed."""
        return self._transport.json("GET", f"/v1/runs/{_segment(run_id)}/items")

    @operation("getRunGraph")
    def graph_page(self, run_id: str, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> RunGraphPage:
        """
        One page of a run's graph as it stands, by position (``limit`` nodes, 1,000 by default): its
        items, how they wait on each other, and which item added which (planners, forEach items,
        merges that re-ran a producer). Pass ``nextCursor`` back as ``cursor`` for the next page.
        """
        return self._transport.json("GET", f"/v1/runs/{_segment(run_id)}/graph{_query({'limit': limit, 'cursor': cursor})}")

    def graph(self, run_id: str) -> RunGraphPage:
        """A run's whole graph: every page read (10,000 nodes at a time) and put together, groups summed."""
        whole: RunGraphPage = {"runId": run_id, "nodes": [], "edges": [], "groups": []}
        counts: Dict[str, int] = {}
        reasons: Dict[str, Any] = {}
        cursor: Optional[str] = None
        while True:
            page = self.graph_page(run_id, limit=10_000, cursor=cursor)
            whole["nodes"].extend(page["nodes"])
            whole["edges"].extend(page["edges"])
            for group in page["groups"]:
                counts[group["id"]] = counts.get(group["id"], 0) + group["items"]
                reasons[group["id"]] = group["reason"]
            cursor = page.get("nextCursor")
            if cursor is None:
                break
        whole["groups"] = [{"id": id, "reason": reasons[id], "items": count} for id, count in counts.items()]
        return whole

    @operation("listItemAttempts")
    def attempts(self, run_id: str, item_id: str) -> List[Attempt]:
        """An item's attempts, first to last. CAIRN_NOT_FOUND names an unknown run or item (``path``)."""
        return self._transport.json("GET", f"{_item_path(run_id, item_id)}/attempts")

    @operation("approveItem")
    def approve(self, run_id: str, item_id: str, reason: Optional[str] = None) -> Item:
        """Approves an item awaiting approval; ``reason`` is kept in the ``item.approved`` audit entry.

        Under an approval policy this is the caller's vote: the answer's ``approval`` says how many
        approvals the item has and how many it still needs. A vote the policy does not count raises
        CAIRN_APPROVAL_NOT_ALLOWED, a second one CAIRN_APPROVAL_DUPLICATE.
        """
        return self._transport.json("POST", f"{_item_path(run_id, item_id)}/approve", _reason(reason))

    @operation("rejectItem")
    def reject(self, run_id: str, item_id: str, reason: Optional[str] = None) -> Item:
        """Rejects an item awaiting approval: it fails (CAIRN_APPROVAL_REJECTED) with ``reason`` (which an approval policy requires)."""
        return self._transport.json("POST", f"{_item_path(run_id, item_id)}/reject", _reason(reason))

    @operation("cancelItem")
    def cancel_item(self, run_id: str, item_id: str, reason: Optional[str] = None) -> Item:
        """Cancels one item (a running one is stopped); ``reason`` is kept in its audit entries."""
        return self._transport.json("POST", f"{_item_path(run_id, item_id)}/cancel", _reason(reason))

    @operation("getItemPatch")
    def patch(self, run_id: str, item_id: str) -> str:
        """A succeeded item's patch (``git diff --binary`` text), checked against its digest; CAIRN_NOT_FOUND when it changed nothing."""
        return self._content_addressed(f"{_item_path(run_id, item_id)}/patch").decode("utf-8")

    @operation("getItemProvenance")
    def provenance(self, run_id: str, item_id: str) -> ProvenanceBundle:
        """
        The signed provenance of a succeeded item's patch (a Sigstore bundle holding an in-toto
        statement; ``cairn verify provenance`` or ``@sigstore/verify`` check it offline).
        CAIRN_NOT_FOUND when the item made no patch.
        """
        return self._transport.json("GET", f"{_item_path(run_id, item_id)}/provenance")

    @operation("getItemLogs")
    def logs(self, run_id: str, item_id: str, *, attempt: Optional[int] = None, follow: bool = False) -> Iterator[LogLine]:
        """
        An item's output: of its latest attempt, or ``attempt``. Lines come as the server sends
        them (``{"stream", "text"}``); with ``follow``, until the attempt ends (waiting for the
        item's first attempt if needed), else what there is now. The last line is ``{"end": ...}``
        once the attempt has ended. A stream cut mid-way is asked for again, for the same attempt,
        from the bytes already yielded: nothing comes twice, nothing is missed. CAIRN_NOT_FOUND
        names an unknown run, item or attempt; an error the server meets mid-stream is raised as
        the CairnError it reported.
        """
        received = {"stdout": 0, "stderr": 0}
        noticed: set[str] = set()
        failed_connects = 0
        while True:
            parameters = {
                "attempt": attempt,
                "follow": "true" if follow else None,
                "stdoutFrom": received["stdout"] or None,
                "stderrFrom": received["stderr"] or None,
            }
            path = f"{_item_path(run_id, item_id)}/logs{_query(parameters)}"
            try:
                response = self._transport.open("GET", path)
            except CairnError as error:
                # Only a reconnect is retried: the first request's failure is the caller's to see.
                if attempt is None or error.code != "CAIRN_SERVER_UNREACHABLE":
                    raise
                failed_connects += 1
                if failed_connects > self._reconnect_attempts:
                    raise CairnError(
                        "CAIRN_SERVER_UNREACHABLE", f"{error.message} (gave up following the log after {failed_connects} attempts in a row)", path="base_url"
                    ) from error
                time.sleep(self._reconnect_delay)
                continue
            failed_connects = 0
            # The attempt the server chose (the latest, when none was named): a reconnect asks for the same one.
            if attempt is None:
                attempt = int(response.headers.get("x-cairn-attempt", "0")) or None
            try:
                for text in _ndjson_lines(response):
                    if text == "":
                        continue  # the server's keep-alive
                    line = _json_line(text, path)
                    if "error" in line:
                        reported = line["error"] if isinstance(line["error"], dict) else {}
                        raise CairnError(str(reported.get("code", "CAIRN_INTERNAL")), str(reported.get("message", "The log stream failed.")), path=reported.get("path"))
                    if "stream" in line:
                        # A notice is said once, however often the stream is resumed; it is not bytes of the stream.
                        if line.get("notice"):
                            if line["stream"] in noticed:
                                continue
                            noticed.add(line["stream"])
                        else:
                            received[line["stream"]] += len(str(line["text"]).encode("utf-8"))
                    yield line  # type: ignore[misc]
                return
            except (OSError, http.client.HTTPException):
                pass  # cut mid-body: reopened where it got to
            finally:
                response.close()
            time.sleep(self._reconnect_delay)

    # Events

    @operation("streamEvents", "streamRunEvents")
    def events(self, run_id: Optional[str] = None, *, after: Optional[int] = None, types: Optional[Sequence[str]] = None) -> Iterator[Event]:
        """
        Events after ``after`` (all by default), of one run or of the whole server, as they
        happen; with ``types`` (``run.state``, ``item.state``, ``attempt.state``) only those. A
        dropped connection is reopened with ``Last-Event-ID``: nothing is missed, nothing repeats.
        A run's events end with its terminal state; the server's go on until the caller stops
        iterating. Raises CAIRN_SERVER_UNREACHABLE once ``reconnect_attempts`` reconnects in a row
        found no server.
        """
        return self._events(run_id, after, types, deadline=None)

    def wait_for_run(
        self,
        run_id: str,
        *,
        timeout: Optional[float] = None,
        on_event: Optional[Callable[[Event], None]] = None,
        types: Optional[Sequence[str]] = None,
    ) -> Run:
        """
        The run once it has ended, following its events (``on_event`` sees each, of ``types``);
        after ``timeout`` seconds, the run as it is then (check its ``state``).
        """
        run = self.run(run_id)
        if run["state"] in TERMINAL_RUN_STATES:
            return run
        deadline = None if timeout is None else time.monotonic() + timeout
        # Without on_event only the run's end matters: the server sends only its run.state events.
        asked = ["run.state"] if on_event is None else types
        for event in self._events(run_id, None, asked, deadline=deadline):
            if on_event is not None:
                on_event(event)
            if event["type"] == "run.state" and event["state"] in TERMINAL_RUN_STATES:
                break
        return self.run(run_id)

    def _events(self, run_id: Optional[str], after: Optional[int], types: Optional[Sequence[str]], deadline: Optional[float]) -> Iterator[Event]:
        last = after if after is not None else -1
        wanted = None if types is None else set(types)
        # A run's stream is asked for its run.state events too: its terminal one is how this loop
        # knows the run, and so the stream, ended (it is yielded only if asked for).
        asked = None if wanted is None else sorted(wanted if run_id is None else wanted | {"run.state"})
        stream = "/v1/events" if run_id is None else f"/v1/runs/{_segment(run_id)}/events"
        path = stream if asked is None else f"{stream}?types={','.join(asked)}"
        failed_connects = 0
        delay = [self._reconnect_delay]

        def on_retry(milliseconds: int) -> None:
            delay[0] = min(milliseconds / 1000, _MAXIMUM_RECONNECT_DELAY)

        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            # A read waits at most `timeout` (keep-alives come every 15 s), and never past the deadline.
            timeout = self._transport.timeout if remaining is None else min(self._transport.timeout, remaining)
            # The server keeps a run's stream open when it is resumed past the run's terminal event
            # (it ends the stream only after sending that event): a resumed stream of a run that has
            # ended first learns that event's id, and ends here when it has seen it.
            if run_id is not None and last >= 0 and self.run(run_id)["state"] in TERMINAL_RUN_STATES:
                if last >= self._terminal_event_id(run_id):
                    return
            try:
                response = self._transport.open("GET", path, headers={"last-event-id": str(last), "accept": "text/event-stream"}, timeout=timeout)
            except CairnError as error:
                if error.code != "CAIRN_SERVER_UNREACHABLE":
                    raise
                failed_connects += 1
                if failed_connects > self._reconnect_attempts:
                    raise CairnError(
                        "CAIRN_SERVER_UNREACHABLE", f"{error.message} (gave up following events after {failed_connects} attempts in a row)", path="base_url"
                    ) from error
                time.sleep(delay[0])
                continue
            failed_connects = 0
            ended_cleanly = False
            try:
                for message in messages_of(lines_of(_chunks(response)), on_retry):
                    event = _event_of(message.data, message.id, path)
                    last = event["id"]
                    if wanted is None or event["type"] in wanted:
                        yield event
                    if run_id is not None and event["type"] == "run.state" and event["state"] in TERMINAL_RUN_STATES:
                        return
                ended_cleanly = True
            except (OSError, http.client.HTTPException):
                pass  # cut mid-body: reopened after the last event
            finally:
                response.close()
            # A run's stream that ends without its terminal event was resumed past it: the run has
            # ended, and nothing follows a run's terminal state.
            if ended_cleanly and run_id is not None and self.run(run_id)["state"] in TERMINAL_RUN_STATES:
                return
            time.sleep(delay[0])

    def _terminal_event_id(self, run_id: str) -> int:
        """The id of an ended run's terminal event: its run.state events from the start, which end with it."""
        for event in self._events(run_id, None, ["run.state"], deadline=None):
            if event["type"] == "run.state" and event["state"] in TERMINAL_RUN_STATES:
                return event["id"]
        raise CairnError("CAIRN_PAYLOAD_INVALID", f"The events of run {run_id} ended without its terminal state; is this a Cairn server?", path=run_id)

    # Blobs, workspaces, evidence

    @operation("storeBlob")
    def upload_blob(self, data: bytes) -> StoredBlob:
        """Stores bytes by their digest (checked by the server as they arrive); ``digest`` is what a run spec names (``workspace: {snapshot}``)."""
        headers = {"content-type": "application/octet-stream", "x-cairn-digest": f"sha256:{hashlib.sha256(data).hexdigest()}"}
        return read_json(self._transport.open("POST", "/v1/blobs", data, headers), "POST", self._transport.url("/v1/blobs"))

    @operation("checkBlob")
    def has_blob(self, digest: str) -> bool:
        """Whether the server stores the blob ``digest`` (``sha256:<hex>``)."""
        try:
            self._transport.open("HEAD", f"/v1/blobs/{digest}").close()
            return True
        except CairnError as error:
            if error.status == 404:
                return False
            raise

    @operation("getBlob")
    def blob(self, digest: str) -> bytes:
        """A blob (a patch, a log, an output, an attempt's signed dispatch manifest) by digest, checked against it."""
        return self._content_addressed(f"/v1/blobs/{digest}")

    def upload_workspace(self, directory: str, *, history: int = DEFAULT_HISTORY_DEPTH) -> UploadedWorkspace:
        """
        Snapshots a folder and uploads it: ``digest`` is what a run spec names (``workspace:
        {snapshot}``), ``entries`` how many files and symlinks it holds. Inside a git work tree
        the snapshot holds the tracked and untracked files that are not ignored, elsewhere every
        file; at the top of a repository it carries its last ``history`` commits (0: none). The
        snapshot is the one ``@cairn/client`` makes (the same digest for the same folder), written
        to a temporary file (this user's only, removed afterwards) and streamed; a server that
        already holds it is sent nothing. CAIRN_PAYLOAD_INVALID names a folder or file that cannot
        be snapshotted (before anything is uploaded); CAIRN_UPLOAD_TOO_LARGE names the folder and
        the snapshot's size when it is over the server's limit.
        """
        folder = tempfile.mkdtemp(prefix="cairn-upload-")
        try:
            file = os.path.join(folder, "snapshot.tar")
            descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as output:
                snapshot = write_workspace_snapshot(directory, output, history=history)
            if self._holds(snapshot.digest):
                return {"digest": snapshot.digest, "entries": snapshot.entries}
            headers = {"content-type": "application/octet-stream", "content-length": str(snapshot.bytes), "x-cairn-digest": snapshot.digest}
            try:
                with open(file, "rb") as body:
                    stored = read_json(self._transport.open("POST", "/v1/blobs", body, headers), "POST", self._transport.url("/v1/blobs"))
            except CairnError as error:
                # The server knows its limit; only the client knows which folder made a snapshot that large.
                if error.code != "CAIRN_UPLOAD_TOO_LARGE":
                    raise
                raise CairnError(
                    "CAIRN_UPLOAD_TOO_LARGE",
                    f"The workspace {directory} makes a snapshot of {snapshot.bytes} bytes ({snapshot.entries} files and symlinks), over the server's upload limit: {error.message}",
                    path="workspace",
                    status=error.status,
                ) from error
            return {"digest": stored["digest"], "entries": snapshot.entries}
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _holds(self, digest: str) -> bool:
        """Only a yes skips an upload: a server that cannot say (a token that may not ask) is uploaded to."""
        try:
            return self.has_blob(digest)
        except CairnError as error:
            if error.code == "CAIRN_SERVER_UNREACHABLE":
                raise
            return False

    @operation("getRunBundle")
    def bundle(self, run_id: str) -> bytes:
        """A run's evidence bundle (``cairn.bundle/v1``), as the bytes to verify offline (``cairn verify``). Needs ``audit:read``."""
        response = self._transport.open("GET", f"/v1/runs/{_segment(run_id)}/bundle")
        return _read_all(response, self._transport.url(f"/v1/runs/{_segment(run_id)}/bundle"))

    @operation("getRunTrajectories")
    def trajectories(self, run_id: str, *, item: Optional[str] = None) -> RunTrajectories:
        """
        A run's agent attempts (of one agent item with ``item``) as ATIF trajectories, built by the
        server from the run's recorded model calls, each with its digest. Needs ``audit:read``.
        """
        return self._transport.json("GET", f"/v1/runs/{_segment(run_id)}/trajectories{_query({'item': item, 'format': 'atif'})}")

    @operation("exportAudit")
    def audit_entries(
        self,
        *,
        run_id: Optional[str] = None,
        action: Optional[str] = None,
        actor: Optional[str] = None,
        from_seq: Optional[int] = None,
        to_seq: Optional[int] = None,
        since: Optional[str] = None,
        until: Optional[str] = None,
    ) -> Iterator[AuditEntry]:
        """
        Audit entries in log order, read line by line as the caller takes them: of a run, an
        action, an actor id, a seq range (``from_seq`` inclusive, ``to_seq`` exclusive) or a time
        range (``since`` inclusive, ``until`` exclusive). A line whose ``leafIndex`` is not its
        entry's ``seq`` is CAIRN_PAYLOAD_INVALID naming it. Needs ``audit:read``.
        """
        parameters = {"from": from_seq, "to": to_seq, "runId": run_id, "action": action, "actor": actor, "since": since, "until": until}
        path = f"/v1/audit{_query(parameters)}"
        response = self._transport.open("GET", path)
        try:
            number = 0
            for text in _ndjson_lines(response):
                if text == "":
                    continue
                number += 1
                try:
                    value = json.loads(text)
                except ValueError as error:
                    raise CairnError("CAIRN_PAYLOAD_INVALID", f"Line {number} of the audit export is not JSON.", path=f"line {number}") from error
                entry = value.get("entry") if isinstance(value, dict) else None
                if not isinstance(entry, dict) or value.get("leafIndex") != entry.get("seq"):
                    raise CairnError(
                        "CAIRN_PAYLOAD_INVALID",
                        f'Line {number} of the audit export is not {{"entry":{{...}},"leafIndex":n}} with leafIndex equal to the entry\'s seq.',
                        path=f"line {number}",
                    )
                yield entry  # type: ignore[misc]
        except (OSError, http.client.HTTPException) as error:
            raise unreachable(self._transport.url(path), error) from error
        finally:
            response.close()

    # Administration (the `admin` scope)

    @operation("listSchedules")
    def schedules(self) -> List[Schedule]:
        """Cron schedules."""
        return self._transport.json("GET", "/v1/schedules")

    @operation("addSchedule")
    def add_schedule(
        self,
        schedule_id: str,
        cron: str,
        spec: Optional[RunSpecInput] = None,
        *,
        template: Optional[str] = None,
        parameters: Optional[Mapping[str, str]] = None,
        time_zone: Optional[str] = None,
        catch_up: Optional[Union[str, Mapping[str, Any]]] = None,
        overlap: Optional[str] = None,
    ) -> Schedule:
        """
        Adds a cron schedule: each slot submits ``spec`` as run ``<schedule_id>@<slot time>``. Or,
        instead of ``spec``, ``template`` (a template of the server's config) with its string
        ``parameters``: the server fills and checks it now, and every slot submits that spec.
        """
        if (spec is None) == (template is None):
            raise ValueError("give spec or template (with its parameters), not both or neither")
        definition: Dict[str, Any] = {"scheduleId": schedule_id, "cron": cron}
        if template is not None:
            definition["template"] = {"name": template, "parameters": dict(parameters or {})}
        else:
            definition["spec"] = spec if isinstance(spec, str) else dict(spec)  # type: ignore[arg-type]
        for name, value in (("timeZone", time_zone), ("catchUp", catch_up), ("overlap", overlap)):
            if value is not None:
                definition[name] = value
        return self._transport.json("POST", "/v1/schedules", definition)

    @operation("deleteSchedule")
    def remove_schedule(self, schedule_id: str) -> None:
        """Removes a schedule (its runs stay)."""
        self._transport.json("DELETE", f"/v1/schedules/{_segment(schedule_id)}")

    @operation("listSecrets")
    def secrets(self) -> List[Secret]:
        """Secret names and versions; values are never read back."""
        return self._transport.json("GET", "/v1/secrets")

    @operation("setSecret")
    def set_secret(self, name: str, value: str) -> Secret:
        """Sets a secret (write-only, stored encrypted); returns its name and new version."""
        return self._transport.json("PUT", f"/v1/secrets/{_segment(name)}", {"value": value})

    @operation("deleteSecret")
    def remove_secret(self, name: str) -> None:
        self._transport.json("DELETE", f"/v1/secrets/{_segment(name)}")

    @operation("listTokens")
    def tokens(self) -> List[Token]:
        """Bearer tokens: never their secrets."""
        return self._transport.json("GET", "/v1/tokens")

    @operation("createToken")
    def create_token(self, name: str, scopes: Sequence[str], principal: Optional[str] = None) -> CreatedToken:
        """Makes a token; ``token`` is its secret, in this answer only. ``principal`` names who it
        belongs to (a person or a service); left out, whoever makes it. An approval policy counts
        one vote per principal."""
        body: Dict[str, Any] = {"name": name, "scopes": list(scopes)}
        if principal is not None:
            body["principal"] = principal
        return self._transport.json("POST", "/v1/tokens", body)

    @operation("revokeToken")
    def revoke_token(self, token_id: str) -> Token:
        """Revokes a token: the server refuses it from its next request."""
        return self._transport.json("DELETE", f"/v1/tokens/{_segment(token_id)}")

    @operation("getSession")
    def session(self) -> Session:
        """Who this client's credential acts as, and which actions it may take."""
        return self._transport.json("GET", "/v1/session")

    @operation("createSignInCode")
    def create_sign_in_code(self, scopes: Optional[Sequence[str]] = None) -> SignInCode:
        """A one-time dashboard sign-in code: ``/dashboard/#signin=<code>`` exchanges it, once and within 5 minutes, for a session."""
        return self._transport.json("POST", "/v1/session/links", {} if scopes is None else {"scopes": list(scopes)})

    @operation("listRunners")
    def runners(self) -> List[Runner]:
        """The runners that polled the server since it started (admin); CAIRN_NOT_FOUND when it has no runners enabled."""
        return self._transport.json("GET", "/v1/runners")

    @operation("drainRunner")
    def drain_runner(self, name: str) -> Runner:
        """Gives a runner (its token's name, or token:<id>) no new attempts; those it holds run to their end."""
        return self._transport.json("POST", f"/v1/runners/{_segment(name)}/drain")

    @operation("resumeRunner")
    def resume_runner(self, name: str) -> Runner:
        """Gives a drained runner attempts again."""
        return self._transport.json("POST", f"/v1/runners/{_segment(name)}/resume")

    @operation("listWebhooks")
    def webhooks(self) -> List[Webhook]:
        """Webhook endpoints, without their secrets."""
        return self._transport.json("GET", "/v1/webhooks")

    @operation("getWebhook")
    def webhook(self, webhook_id: str) -> Webhook:
        return self._transport.json("GET", f"/v1/webhooks/{_segment(webhook_id)}")

    @operation("addWebhook")
    def add_webhook(self, url: str, *, events: Optional[Sequence[str]] = None, run_id: Optional[str] = None, description: Optional[str] = None) -> CreatedWebhook:
        """Adds a webhook endpoint (of ``events`` types, of one run); the answer's ``secret`` (whsec_...) is shown this once."""
        definition: Dict[str, Any] = {"url": url}
        if events is not None:
            definition["events"] = list(events)
        if run_id is not None:
            definition["runId"] = run_id
        if description is not None:
            definition["description"] = description
        return self._transport.json("POST", "/v1/webhooks", definition)

    @operation("deleteWebhook")
    def remove_webhook(self, webhook_id: str) -> None:
        self._transport.json("DELETE", f"/v1/webhooks/{_segment(webhook_id)}")

    @operation("listWebhookDeliveries")
    def webhook_deliveries(self, webhook_id: str) -> List[WebhookDelivery]:
        """A webhook's latest deliveries: status, attempts, last status code or error, next attempt."""
        return self._transport.json("GET", f"/v1/webhooks/{_segment(webhook_id)}/deliveries")

    # Operations

    @operation("checkHealth")
    def health(self) -> Health:
        """Whether the server process is up (no token needed)."""
        return self._transport.json("GET", "/healthz")

    @operation("checkReadiness")
    def readiness(self) -> Readiness:
        """Whether the engine can do its work; ``ready`` False with the ``reason`` when it cannot (the server answers 503 then; no token needed)."""
        return read_json(self._transport.open("GET", "/readyz", also_answers=(503,)), "GET", self._transport.url("/readyz"))

    def _content_addressed(self, path: str, retried: bool = False) -> bytes:
        """
        The bytes of an answer that names its digest (``x-cairn-digest``), checked against it. A
        body cut off mid-way is asked for once more; a second cut is CAIRN_SERVER_UNREACHABLE.
        """
        response = self._transport.open("GET", path)
        try:
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            if not retried:
                return self._content_addressed(path, True)
            raise CairnError("CAIRN_SERVER_UNREACHABLE", f"The answer to GET {path} was cut off twice before its end: {error}.", path="base_url") from error
        finally:
            response.close()
        digest = response.headers.get("x-cairn-digest")
        if digest is not None:
            actual = f"sha256:{hashlib.sha256(data).hexdigest()}"
            if actual != digest:
                raise CairnError(
                    "CAIRN_DIGEST_MISMATCH", f"GET {path} answered bytes that hash to {actual}, not {digest}: they were altered on the way or in storage.", path=path
                )
        return data


def _item_path(run_id: str, item_id: str) -> str:
    return f"/v1/runs/{_segment(run_id)}/items/{_segment(item_id)}"


def _reason(reason: Optional[str]) -> Dict[str, str]:
    return {} if reason is None else {"reason": reason}


def _chunks(response: Answer) -> Iterator[bytes]:
    """A streamed body's bytes as they arrive (not waiting for a buffer to fill)."""
    while True:
        chunk = response.read1(64 * 1024)
        if not chunk:
            return
        yield chunk


def _ndjson_lines(response: Answer) -> Iterator[str]:
    """The lines of an NDJSON body as they arrive; the last may end the body without a newline."""
    buffer = b""
    for chunk in _chunks(response):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line.decode("utf-8")
    if buffer:
        yield buffer.decode("utf-8")


def _read_all(response: Answer, url: str) -> bytes:
    try:
        return response.read()
    except (OSError, http.client.HTTPException) as error:
        raise unreachable(url, error) from error
    finally:
        response.close()


def _json_line(text: str, path: str) -> Dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise CairnError("CAIRN_PAYLOAD_INVALID", f"A line from {path} is not JSON; is this a Cairn server?", path=path) from error
    if not isinstance(value, dict):
        raise CairnError("CAIRN_PAYLOAD_INVALID", f"A line from {path} is not a JSON object; is this a Cairn server?", path=path)
    return value


def _event_of(data: str, message_id: Optional[str], path: str) -> Event:
    """A Cairn event from a server-sent message's data; one that is not is the server's fault, said so."""
    try:
        value = json.loads(data)
    except ValueError as error:
        raise CairnError("CAIRN_PAYLOAD_INVALID", f"An event from {path} (id {message_id!r}) has data that is not JSON; is this a Cairn server?", path=path) from error
    if not isinstance(value, dict) or not isinstance(value.get("id"), int) or not isinstance(value.get("type"), str):
        raise CairnError("CAIRN_PAYLOAD_INVALID", f"An event from {path} (id {message_id!r}) is not a Cairn event {{id, type, ...}}; is this a Cairn server?", path=path)
    return value  # type: ignore[return-value]

