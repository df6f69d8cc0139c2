"""Runs s3fs calls for tests/clients/test_s3fs.py, inside the venv that holds s3fs.

s3fs needs aiobotocore, which pins a botocore that boto3 in the project's venv excludes,
so s3fs runs here, in a process of its own (see tests/clients/s3fs-requirements.txt).
This script imports nothing from the project.

Protocol, one JSON object a line on stdin and stdout (tracebacks go to stderr). Request: {"target": N, "method": NAME, "args": [...],
"kwargs": {...}}; object 0 is the `s3fs` module. Reply: {"result": VALUE} or
{"error": {"type": NAME, "bases": [NAMES], "message": TEXT}}. Values that JSON has no
type for travel tagged: {"$bytes": BASE64}, {"$datetime": ISO 8601}; tuples, sets and
generators (fs.walk) travel as lists; any other object
(a file system, an open file) stays here and travels as {"$object": N}.
"""

from __future__ import annotations

import base64
import datetime
import json
import sys
import traceback
import types
from typing import Any

import s3fs

objects: dict[int, Any] = {0: s3fs}


def encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, datetime.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, list | tuple | set | types.GeneratorType):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    number = len(objects)
    objects[number] = value
    return {"$object": number}


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, dict):
        if "$bytes" in value:
            return base64.b64decode(value["$bytes"])
        if "$object" in value:
            return objects[value["$object"]]
        return {key: decode(item) for key, item in value.items()}
    return value


def handle(request: dict) -> dict:
    target = objects[request["target"]]
    method = getattr(target, request["method"])
    try:
        result = method(*decode(request["args"]), **decode(request["kwargs"]))
    except Exception as exc:
        bases = [cls.__name__ for cls in type(exc).__mro__ if cls.__module__ == "builtins"]
        print(traceback.format_exc(), file=sys.stderr, flush=True)
        return {"error": {"type": type(exc).__name__, "bases": bases, "message": str(exc)}}
    return {"result": encode(result)}


def main() -> None:
    replies = sys.stdout
    sys.stdout = sys.stderr  # whatever else prints must not mix with the replies
    for line in sys.stdin:
        replies.write(json.dumps(handle(json.loads(line))) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
