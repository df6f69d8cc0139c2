"""Regenerate the Python stubs from the .proto files: `python -m proto.generate`.

`--check` compares freshly generated stubs with the checked-in ones and exits
non-zero when they differ (the unit tests run it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

PROTO_DIR = Path(__file__).resolve().parent
ROOT = PROTO_DIR.parent
PROTOS = sorted(p.name for p in PROTO_DIR.glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Run protoc for every .proto into out_dir/proto and return the files made."""
    include = Path(protoc.__file__).resolve().parent / "_proto"
    (out_dir / "proto").mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(Path("proto") / name) for name in PROTOS],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    return sorted((out_dir / "proto").glob("*_pb2*.py*"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if stubs are stale")
    args = parser.parse_args(argv)
    if not args.check:
        generate(ROOT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stale = []
        for fresh in generate(Path(tmp)):
            current = PROTO_DIR / fresh.name
            if not current.exists() or current.read_bytes() != fresh.read_bytes():
                stale.append(fresh.name)
    if stale:
        print("stale generated stubs (run `make proto`):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
