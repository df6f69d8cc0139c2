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
# With several members, how long a member that failed a call is passed over.
FAILED_MEMBER_PAUSE = 3.0


def parse_endpoints(endpoints: str | None) -> list[tuple[str, int]]:
    """(host, port) of each member in a comma list of `host:port` (an `http://` prefix is
    allowed); defaults to TESSERA_ETCD, then localhost."""
    text = endpoints or os.environ.get("TESSERA_ETCD") or DEFAULT_ENDPOINT
    members = []
    for part in text.split(","):
        part = part.strip().removeprefix("http://")
        if part:
            host, _, port = part.rpartition(":")
            members.append((host or "127.0.0.1", int(port)))
    if not members:
        raise ValueError(f"no etcd endpoint in {text!r}")
    return members


def connect(endpoints: str | None = None, timeout: float = 5.0) -> etcd3.Etcd3Client:
    """A client for the etcd at endpoints: one `host:port`, or a comma list of the
    members of an etcd cluster. With several, a member that fails a call is passed over
    for FAILED_MEMBER_PAUSE seconds and the next call goes to another one."""
    members = parse_endpoints(endpoints)
    if len(members) == 1:
        host, port = members[0]
        client = etcd3.client(host=host, port=port, timeout=timeout)
        # By default one failed call makes the client refuse every call for 300 s
        # ("Trying to use a failed node"); with one member, retry on the next call.
        for endpoint_state in client.endpoints.values():
            endpoint_state.time_retry = 0
        return client
    client = etcd3.MultiEndpointEtcd3Client(
        endpoints=[
            etcd3.Endpoint(host, port, secure=False, time_retry=FAILED_MEMBER_PAUSE)
            for host, port in members
        ],
        timeout=timeout,
        failover=True,
    )
    _settle_on_answering_member(client, len(members))
    return client


def _settle_on_answering_member(client: etcd3.MultiEndpointEtcd3Client, members: int) -> None:
    """Start on a member that answers (the client picks one at random): a process that
    reconnects after a member died should not fail its first call again."""
    for _ in range(members):
        try:
            client.status()
            return
        except etcd3.exceptions.Etcd3Exception:
            continue  # that member is passed over now; the next try asks another
    # None answered: forget the failures, so calls try every member again.
    for endpoint_state in client.endpoints.values():
        endpoint_state.last_failed = 0


def close_quietly(client: etcd3.Etcd3Client) -> None:
    """Close a client that failed or is done with; a broken channel may fail to close."""
    with contextlib.suppress(Exception):
        client.close()
