"""Connecting to etcd. The client is the synchronous etcd3 client: callers in
trio code must reach it through a thread (see gateway/cluster)."""

from __future__ import annotations

import os

import etcd3

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
    return etcd3.client(host=host, port=port, timeout=timeout)
