"""What the tests share: the server the test command started, and a proxy that cuts streams."""

from __future__ import annotations

import json
import os
import socket
import threading
from typing import Any, Dict, List, Optional

from cairn_client import CairnClient


def server_settings() -> Dict[str, str]:
    """The server under test: CAIRN_SERVER and CAIRN_TOKEN, set by tests/python-client.test.ts, which starts it."""
    server = os.environ.get("CAIRN_SERVER")
    token = os.environ.get("CAIRN_TOKEN")
    if not server or not token:
        raise RuntimeError(
            "These tests run against a real Cairn server: run them with "
            "`pnpm exec vitest run --project repository tests/python-client.test.ts` (it starts one), "
            "or set CAIRN_SERVER and CAIRN_TOKEN (an admin token) to a server of your own."
        )
    return {"server": server, "token": token}


def client(**settings: Any) -> CairnClient:
    found = server_settings()
    return CairnClient(found["server"], found["token"], **settings)


def command(script: str, **fields: Any) -> Dict[str, Any]:
    """An item that runs `sh -c script` in the workspace."""
    return {"runtime": {"kind": "command", "argv": ["sh", "-c", script]}, **fields}


def spec(name: str, items: List[Dict[str, Any]], **fields: Any) -> Dict[str, Any]:
    return {"version": 1, "name": name, "items": items, **fields}


def write_files(folder: str, files: Dict[str, str]) -> str:
    # Sandboxes run as uids of their own: the folders above a workspace must let them pass.
    os.chmod(folder, 0o755)
    for path, text in files.items():
        target = os.path.join(folder, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as file:
            file.write(text)
    return folder


class CuttingProxy:
    """
    A TCP proxy in front of the server that cuts the answer of selected connections after a
    number of bytes (a dropped connection, as a load balancer or a flaky network drops one), and
    records each request's head, so a test sees what a reconnect asked for.
    """

    def __init__(self, upstream: str, cut_after: Optional[List[Optional[int]]] = None) -> None:
        """``cut_after[n]``: how many bytes of the n-th connection's answer pass before it is cut (None: all); settable until that connection opens."""
        host_port = upstream.split("://", 1)[1].rstrip("/")
        host, _, port = host_port.partition(":")
        self._upstream = (host, int(port))
        # The n-th connection's answer is cut after cut_after[n] bytes; None, or past the list: never.
        self.cut_after = list(cut_after or [])
        self.requests: List[str] = []
        # The bytes each connection's answer carried (as far as it was forwarded).
        self.responses: List[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                number = len(self.requests)
                self.requests.append("")
                self.responses.append(b"")
            limit = self.cut_after[number] if number < len(self.cut_after) else None
            threading.Thread(target=self._serve, args=(downstream, number, limit), daemon=True).start()

    def _serve(self, downstream: socket.socket, number: int, limit: Optional[int]) -> None:
        upstream = socket.create_connection(self._upstream)

        def forward_request() -> None:
            try:
                while True:
                    data = downstream.recv(65536)
                    if not data:
                        break
                    with self._lock:
                        if "\r\n\r\n" not in self.requests[number]:
                            self.requests[number] += data.decode("latin-1")
                    upstream.sendall(data)
            except OSError:
                pass

        threading.Thread(target=forward_request, daemon=True).start()
        sent = 0
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    data = data[: limit - sent]
                    with self._lock:
                        self.responses[number] += data
                    downstream.sendall(data)
                    break
                with self._lock:
                    self.responses[number] += data
                downstream.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            # A cut, as a dropped connection looks to the client: no more bytes, then the end.
            for end in (downstream, upstream):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def request_lines(self) -> List[str]:
        with self._lock:
            return [request.split("\r\n", 1)[0] for request in self.requests]

    def header(self, number: int, name: str) -> Optional[str]:
        with self._lock:
            head = self.requests[number].split("\r\n\r\n", 1)[0]
        for line in head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


def expected_snapshots() -> List[Dict[str, Any]]:
    """The snapshots @cairn/client made of the fixture folders (CAIRN_TEST_SNAPSHOTS, set by the test command)."""
    text = os.environ.get("CAIRN_TEST_SNAPSHOTS")
    if not text:
        raise RuntimeError("CAIRN_TEST_SNAPSHOTS is not set: run these tests through tests/python-client.test.ts, which makes the fixture folders and their snapshots.")
    return json.loads(text)
