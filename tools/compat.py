"""Render docs/s3-compatibility.md from the router's operation list:
`python -m tools.compat` writes it, `--check` fails when it is stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.s3 import router

DOC = Path(__file__).resolve().parent.parent / "docs" / "s3-compatibility.md"

HEADER = """# S3 compatibility

Generated from `gateway/s3/router.py` by `python -m tools.compat`; do not edit.

Every S3 operation the router can name is listed. Implemented operations are
served; the others belong to features out of Tessera's scope, named beside each, and
answer `501 NotImplemented` with an S3 error body that says so.
Authentication: AWS Signature V4 (header, presigned query, aws-chunked signed
and unsigned-trailer bodies) and Signature V2 (header and presigned query).
Addressing: path style (`/bucket/key`) always, and virtual-hosted style
(`Host: bucket.DOMAIN`, the whole path is the key) for each domain the gateway
serves (`--domain`, `TESSERA_DOMAIN` or `domain` in the config file's
`[gateway]` table); a `Host` equal to a served domain, or any other host, is
path style.

| operation | status |
| --- | --- |
"""


def render() -> str:
    names = sorted(set(router.ALL_OPERATIONS) - set(router.PSEUDO_OPERATIONS))
    rows = [f"| {name} | {_status(name)} |" for name in names]
    done = sum(name in router.IMPLEMENTED for name in names)
    return HEADER + "\n".join(rows) + f"\n\n{done} of {len(names)} operations implemented.\n"


def _status(name: str) -> str:
    if name in router.IMPLEMENTED:
        return "implemented"
    feature = router.out_of_scope(name)
    return f"out of scope (501): {feature}" if feature else "not yet (501)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is stale: run `python -m tools.compat`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
