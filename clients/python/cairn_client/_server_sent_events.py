"""Server-sent events parsed as the WHATWG HTML standard says (the part a client of one server needs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional


@dataclass(frozen=True)
class Message:
    """One dispatched event: its ``id:`` (None when it set none), ``event:`` type and ``data:`` lines joined by newlines."""

    id: Optional[str]
    event: str
    data: str


def lines_of(chunks: Iterable[bytes]) -> Iterator[str]:
    """
    The lines of a byte stream, ended by CR, LF or CRLF. What follows the last line end is an
    unfinished line (a connection cut mid-line) and is dropped.
    """
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        start = 0
        while True:
            carriage = buffer.find(b"\r", start)
            newline = buffer.find(b"\n", start)
            if carriage == -1 and newline == -1:
                break
            end = min(position for position in (carriage, newline) if position != -1)
            if buffer[end : end + 1] == b"\r":
                if end + 1 == len(buffer):
                    break  # a CR last: a LF may follow in the next chunk
                following = 2 if buffer[end + 1 : end + 2] == b"\n" else 1
            else:
                following = 1
            yield buffer[start:end].decode("utf-8", "replace")
            start = end + following
        buffer = buffer[start:]


def messages_of(lines: Iterable[str], on_retry: Callable[[int], None]) -> Iterator[Message]:
    """
    The events of a stream's lines: ``data:`` lines gathered until a blank line dispatches them,
    comments (``:``) ignored, ``retry:`` handed to ``on_retry``. An event cut off before its blank
    line is never dispatched, so a reconnect that resumes after the last id yielded misses nothing.
    """
    data: list[str] = []
    event = ""
    last_id: Optional[str] = None
    for line in lines:
        if line == "":
            if data:
                yield Message(id=last_id, event=event or "message", data="\n".join(data))
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "id":
            if "\0" not in value:
                last_id = value
        elif field == "retry":
            if value.isdigit():
                on_retry(int(value))
