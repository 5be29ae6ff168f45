"""
A Python client of the Cairn server's HTTP API (stdlib only): submit runs over a workspace folder,
follow their events and logs, approve items, and read their patches and evidence bundles.
"""

from .client import TERMINAL_RUN_STATES, CairnClient
from .errors import CairnError
from .types import (
    Attempt,
    AttemptFailure,
    AttemptStateEvent,
    AuditEntry,
    Event,
    Item,
    ItemStateEvent,
    LogLine,
    Run,
    RunPage,
    RunStateEvent,
    SubmitResult,
    UploadedWorkspace,
)
from .workspace import write_workspace_snapshot

__version__ = "0.1.0"

__all__ = [
    "Attempt",
    "AttemptFailure",
    "AttemptStateEvent",
    "AuditEntry",
    "CairnClient",
    "CairnError",
    "Event",
    "Item",
    "ItemStateEvent",
    "LogLine",
    "Run",
    "RunPage",
    "RunStateEvent",
    "SubmitResult",
    "TERMINAL_RUN_STATES",
    "UploadedWorkspace",
    "__version__",
    "write_workspace_snapshot",
]
