"""Connecting to etcd. The client is the synchronous etcd3 client: callers in
trio code must reach it through a thread (see gateway/cluster)."""

from __future__ import annotations

import contextlib
import os

import etcd3
import etcd3.watch
import six

# python3-etcd3 0.13 uses `six` in its watcher without importing it: when a
# watch stream breaks, the watcher thread dies with NameError instead of
# reporting the error, and watch-fed caches would silently stop updating.
etcd3.watch.six = six

DEFAULT_ENDPOINT = "127.0.0.1:2379"


def parse_endpoint(endpoint: str | None) -> tuple[str, int]:
    """Split `host:port` (first of a comma list); defaults to TESSERA_ETCD or localhost."""
    text = (endpoint or os.environ.get("TESSERA_ETCD") or DEFAULT_ENDPOINT).split(",")[0].strip()
    text = text.removeprefix("http://")
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1"), int(port)


def connect(endpoint: str | None = None, timeout: float = 5.0) -> etcd3.Etcd3Client:
    """A client for the etcd at endpoint."""
    host, port = parse_endpoint(endpoint)
    client = etcd3.client(host=host, port=port, timeout=timeout)
    # By default one failed call makes the client refuse every call for 300 s
    # ("Trying to use a failed node"); retry on the next call instead.
    for endpoint_state in client.endpoints.values():
        endpoint_state.time_retry = 0
    return client


def close_quietly(client: etcd3.Etcd3Client) -> None:
    """Close a client that failed or is done with; a broken channel may fail to close."""
    with contextlib.suppress(Exception):
        client.close()
