"""Requests to the server over http.client: one connection per request, errors as CairnErrors."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from typing import Any, BinaryIO, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

from .errors import CairnError, answered_error

Body = Union[bytes, BinaryIO, None]


class Transport:
    """
    Where the server is and how to reach it. http.client rather than urllib: no proxy settings
    from the environment are applied to a server the caller named, an upload is streamed from its
    file as the connection takes it, and an answer the server gives before the whole body is sent
    (a refusal by length) is still read.
    """

    def __init__(self, base_url: str, token: Optional[str], timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CairnError(
                "CAIRN_CONFIG_INVALID",
                f"[cairn] [client] invalid setting \"base_url\": {base_url!r} must be an http(s) URL such as http://127.0.0.1:7600",
                path="base_url",
            )
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._token = token
        self.timeout = timeout

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def open(
        self,
        method: str,
        path: str,
        body: Body = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        also_answers: Tuple[int, ...] = (),
    ) -> "Answer":
        """
        Sends a request and returns the answer once its status is 2xx (the caller reads and closes
        it), or one of ``also_answers`` (a status whose body is an answer, not an error). An error answer is raised as the CairnError it reports; a server that cannot be
        reached, or a connection that breaks before an answer, is CAIRN_SERVER_UNREACHABLE naming
        the URL.
        """
        url = self.url(path)
        all_headers = {"user-agent": "cairn-client-python"}
        if self._token:
            all_headers["authorization"] = f"Bearer {self._token}"
        all_headers.update(headers or {})
        connection = self._connection(self.timeout if timeout is None else timeout)
        try:
            try:
                connection.request(method, self._prefix + path, body=body, headers=all_headers)
            except (BrokenPipeError, ConnectionResetError):
                # The server may have answered and closed before taking the whole body: its answer counts.
                pass
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise unreachable(url, error) from error
        if 200 <= response.status < 300 or response.status in also_answers:
            return Answer(response, connection)
        try:
            data = response.read()
        except (OSError, http.client.HTTPException):
            data = b""
        finally:
            response.close()
            connection.close()
        raise answered_error(method, url, response.status, data)

    def json(self, method: str, path: str, value: Any = None, headers: Optional[Mapping[str, str]] = None) -> Any:
        """A request with a JSON body (when ``value`` is not None) and a JSON answer."""
        body = None if value is None else json.dumps(value).encode("utf-8")
        sent = dict(headers or {})
        if body is not None:
            sent.setdefault("content-type", "application/json")
        return read_json(self.open(method, path, body, sent), method, self.url(path))

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)


class Answer:
    """A 2xx answer being read; ``close`` ends its connection too (each request has its own)."""

    def __init__(self, response: http.client.HTTPResponse, connection: http.client.HTTPConnection) -> None:
        self._response = response
        self._connection = connection
        self.status = response.status
        self.headers = response.headers

    def read(self) -> bytes:
        return self._response.read()

    def read1(self, size: int) -> bytes:
        return self._response.read1(size)

    def close(self) -> None:
        self._response.close()
        self._connection.close()


def read_json(response: Answer, method: str, url: str) -> Any:
    """The JSON of a 2xx answer; one that is not JSON is CAIRN_PAYLOAD_INVALID (is this a Cairn server?)."""
    try:
        data = response.read()
    except (OSError, http.client.HTTPException) as error:
        raise unreachable(url, error) from error
    finally:
        response.close()
    if response.status == 204 or data == b"":
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise CairnError(
            "CAIRN_PAYLOAD_INVALID",
            f"{method} {url} answered {response.status} with a body that is not JSON; is this a Cairn server?",
            path=url,
        ) from error


def unreachable(url: str, error: BaseException) -> CairnError:
    """CAIRN_SERVER_UNREACHABLE naming the URL and the system's reason."""
    if isinstance(error, socket.timeout):
        reason = "no answer in time (timed out)"
    elif isinstance(error, ConnectionRefusedError):
        reason = "ECONNREFUSED (connection refused)"
    elif isinstance(error, socket.gaierror):
        reason = f"ENOTFOUND (no such host: {error})"
    else:
        reason = str(error) or type(error).__name__
    return CairnError(
        "CAIRN_SERVER_UNREACHABLE",
        f"Cannot reach the Cairn server at {url}: {reason}. Is `cairn serve` running there?",
        path="base_url",
    )
