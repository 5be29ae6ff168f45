"""The one error type of the client: what the server answered, or what went wrong on the way."""

import json
import re
from typing import Any, Mapping, Optional, Sequence

# What to do about the codes the client raises itself, word for word as the catalogue
# (packages/protocol's error catalogue) says it; a test keeps the two equal. An error the server
# answered carries the server's own advice instead.
CLIENT_ACTIONS: Mapping[str, str] = {
    "CAIRN_SERVER_UNREACHABLE": "Check that `cairn serve` runs there, and the URL (`--server`, CAIRN_SERVER or the current context: `cairn context list`).",
    "CAIRN_PAYLOAD_INVALID": "The sender and receiver disagree on the protocol: check that both run compatible Cairn versions.",
    "CAIRN_DIGEST_MISMATCH": "The content was altered or corrupted; fetch it again from a trusted source.",
    "CAIRN_UPLOAD_TOO_LARGE": "Make the workspace smaller (leave build output and dependencies out: a snapshot of a git work tree skips ignored files), or raise server.uploadLimitMiB in the server config.",
    "CAIRN_RUN_SPEC_UNPARSABLE": "Fix the syntax at the reported line and column.",
    "CAIRN_CONFIG_INVALID": "Fix the named option; every problem is listed at once.",
    "CAIRN_INTERNAL": "Try again; if it persists, report it with the time it happened (the server log holds the details).",
}

_CODE = re.compile(r"^CAIRN_[A-Z0-9_]+$")


class CairnError(Exception):
    """
    A Cairn error: ``code`` from the catalogue (docs/reference/errors.md), ``message`` saying what
    was wrong, ``path`` where (a JSON path, an option, a file; None when nothing narrower applies),
    ``action`` what to do, and ``issues`` (each ``{"path", "message"}``) when a spec had several
    problems. An error the server answered keeps its code, message, path, advice and issues; its
    HTTP status is ``status`` (None for an error raised before any answer).
    """

    def __init__(
        self,
        code: str,
        message: str,
        path: Optional[str] = None,
        action: Optional[str] = None,
        issues: Sequence[Mapping[str, Any]] = (),
        status: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path
        self.action = action if action is not None else CLIENT_ACTIONS.get(code, CLIENT_ACTIONS["CAIRN_INTERNAL"])
        self.issues: list[dict[str, Any]] = [dict(issue) for issue in issues]
        self.status = status

    def __str__(self) -> str:
        where = f" (at {self.path})" if self.path else ""
        return f"{self.code}: {self.message}{where}"

    def __repr__(self) -> str:
        return f"CairnError({self.code!r}, {self.message!r}, path={self.path!r})"


def answered_error(method: str, url: str, status: int, body: bytes) -> CairnError:
    """
    The CairnError a server's error answer reports. A body that is not a Cairn error (a proxy's
    HTML page, an older server) is CAIRN_INTERNAL naming the request and its status, so the caller
    never sees a bare HTTP error.
    """
    answer: Any
    try:
        answer = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    code = answer.get("code")
    message = answer.get("message")
    path = answer.get("path")
    action = answer.get("action")
    issues = answer.get("issues")
    return CairnError(
        code if isinstance(code, str) and _CODE.match(code) else "CAIRN_INTERNAL",
        message if isinstance(message, str) else f"{method} {url} answered {status}.",
        path=path if isinstance(path, str) else None,
        action=action if isinstance(action, str) else None,
        issues=[issue for issue in issues if isinstance(issue, dict)] if isinstance(issues, list) else (),
        status=status,
    )
