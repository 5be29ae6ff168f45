"""
Prints, as JSON, what the client implements, for tests/python-client.test.ts to compare with the
OpenAPI document a real server serves: each operation a method is marked for (``@operation``)
with the record its answer is typed as, the operations left out with why, every TypedDict of
``cairn_client.types`` with its fields (required or not, and the values of a Literal), and the
advice the client gives for the error codes it raises itself.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import sys
import typing
from typing import Any, Dict, List, Optional

from cairn_client import types as records
from cairn_client.client import CairnClient
from cairn_client._operations import NOT_IMPLEMENTED, operations_of
from cairn_client.errors import CLIENT_ACTIONS


def is_typed_dict(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, dict) and hasattr(value, "__required_keys__")


def literal_values(annotation: Any) -> Optional[List[Any]]:
    """The values of a Literal (also inside Optional, List or NotRequired), else None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return list(typing.get_args(annotation))
    if origin in (typing.Union, list, typing.NotRequired, typing.Required):
        for argument in typing.get_args(annotation):
            found = literal_values(argument)
            if found is not None:
                return found
    return None


def describe_record(record: Any) -> Dict[str, Any]:
    hints = typing.get_type_hints(record, include_extras=True)
    return {
        "fields": {
            name: {"required": name in record.__required_keys__, "enum": literal_values(hints[name])}
            for name in hints
        }
    }


def answer_name(annotation: Any) -> Optional[str]:
    """The record a method's answer is typed as: itself, or what a List or Iterator of it holds; the name of a union alias."""
    for name, value in vars(records).items():
        if value is annotation and not name.startswith("_"):
            return name
    origin = typing.get_origin(annotation)
    if origin in (list, collections.abc.Iterator):
        return answer_name(typing.get_args(annotation)[0])
    return None


def main() -> None:
    operations: Dict[str, Dict[str, Any]] = {}
    for name, method in inspect.getmembers(CairnClient, inspect.isfunction):
        for operation_id in operations_of(method):
            returned = typing.get_type_hints(method).get("return")
            operations[operation_id] = {"method": name, "answer": answer_name(returned), "returns": repr(returned)}
    types: Dict[str, Any] = {}
    for name, value in vars(records).items():
        if name.startswith("_"):
            continue
        if is_typed_dict(value):
            types[name] = describe_record(value)
        elif typing.get_origin(value) is typing.Union and all(is_typed_dict(member) for member in typing.get_args(value)):
            types[name] = {"oneOf": [describe_record(member) for member in typing.get_args(value)]}
    json.dump({"operations": operations, "notImplemented": NOT_IMPLEMENTED, "types": types, "actions": dict(CLIENT_ACTIONS)}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
