"""Run inside a bed host (`ip netns exec`): wait until every key's newest version is on
`--replicas` storage nodes, asking the nodes over mutual TLS; print
{"short": {key: copies}, "took": seconds} as JSON. gRPC opens its sockets on threads
of its own, so this runs as a process inside the namespace rather than as a thread."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from coordinator import tls
from proto import storage_pb2_grpc as pb_grpc
from tools.redundancy import wait_full


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tls", nargs=3, type=Path, metavar=("CA", "CERT", "KEY"), required=True)
    parser.add_argument("--nodes", required=True, help="comma list of HOST:PORT")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--keys", type=Path, required=True, help="file with a key per line")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    dial = tls.dialer(tls.Tls.from_files(*args.tls))
    stubs = {address: pb_grpc.StorageStub(dial(address)) for address in args.nodes.split(",")}
    keys = args.keys.read_text().split()
    short, took = wait_full(stubs, args.bucket, keys, args.replicas, args.timeout)
    print(json.dumps({"short": short, "took": took}))


if __name__ == "__main__":
    main()
