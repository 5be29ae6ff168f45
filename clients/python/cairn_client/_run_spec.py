"""A run spec with its workspace set to an uploaded snapshot, without a YAML library."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Mapping, Tuple, Union

from .errors import CairnError

# A top-level key of a block mapping: at column 0, plain or quoted, then a colon and a space or the line's end.
_TOP_LEVEL_KEY = re.compile(r"""^(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|([^\s#'"{}\[\],:&*!|>%@`-][^:#]*?|-[^\s:#][^:#]*?))\s*:(?:\s|$)""")


def spec_with_snapshot(spec: Union[str, Mapping[str, Any]], digest: str) -> Tuple[str, str]:
    """
    The body and content type to submit ``spec`` with ``workspace: {snapshot: digest}`` in place
    of its own ``workspace``. A mapping or JSON text is sent as JSON. Block-style YAML (how run
    specs are written) is edited as text, so its comments and layout reach the server as written:
    the top-level ``workspace`` key and its block are replaced, or the key is added before the
    first top-level key. The server parses and checks the result as it checks any spec (a second
    ``workspace`` key it would refuse as a duplicate, never take silently).
    """
    if not isinstance(spec, str):
        return json.dumps({**spec, "workspace": {"snapshot": digest}}), "application/json"
    try:
        parsed = json.loads(spec)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return json.dumps({**parsed, "workspace": {"snapshot": digest}}), "application/json"
    return _yaml_with_snapshot(spec, digest), "application/yaml"


def _key_of(line: str) -> Union[str, None]:
    match = _TOP_LEVEL_KEY.match(line)
    if match is None:
        return None
    double, single, plain = match.groups()
    if double is not None:
        return json.loads(f'"{double}"')
    if single is not None:
        return single.replace("''", "'")
    return plain


def _yaml_with_snapshot(text: str, digest: str) -> str:
    lines: List[str] = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    keys: Dict[int, str] = {}
    for index, line in enumerate(lines):
        stripped = line.rstrip("\r\n")
        if stripped == "" or stripped[0] in " \t#%" or stripped.startswith(("---", "...")):
            continue
        key = _key_of(stripped)
        # Past the first key, a line at column 0 that is no key continues the value above (a flow
        # collection's closing bracket); a spec that starts with one is a flow mapping.
        if key is None and keys:
            continue
        if key is None:
            raise CairnError(
                "CAIRN_RUN_SPEC_UNPARSABLE",
                f"The run spec starts with {stripped[:60]!r}, not a top-level key of a block mapping, "
                "so the client cannot set its workspace to the uploaded snapshot.",
                path="workspace",
                action="Write the spec as block-style YAML (one top-level key a line, as `cairn init` and the docs write it), or pass it as a dict or JSON text.",
            )
        keys[index] = key
    line = f"workspace: {{ snapshot: {json.dumps(digest)} }}\n"
    if not keys:
        return "".join(lines) + line
    starts = sorted(keys)
    for position, start in enumerate(starts):
        if keys[start] != "workspace":
            continue
        end = starts[position + 1] if position + 1 < len(starts) else _block_end(lines, start)
        return "".join(lines[:start] + [line] + lines[end:])
    first = starts[0]
    return "".join(lines[:first] + [line] + lines[first:])


def _block_end(lines: List[str], start: int) -> int:
    """Where the last top-level key's block ends: at a document end marker, else at the text's end."""
    for index in range(start + 1, len(lines)):
        if lines[index].startswith(("---", "...")):
            return index
    return len(lines)
