"""Connecting to etcd. The client is the synchronous etcd3 client: callers in
trio code must reach it through a thread (see gateway/cluster)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import etcd3
import etcd3.watch
import six

from coordinator import certs, tls

# python3-etcd3 0.13 uses `six` in its watcher without importing it: when a
# watch stream breaks, the watcher thread dies with NameError instead of
# reporting the error, and watch-fed caches would silently stop updating.
etcd3.watch.six = six

DEFAULT_ENDPOINT = "127.0.0.1:2379"
# With several members, how long a member that failed a call is passed over.
FAILED_MEMBER_PAUSE = 3.0
# TLS material for etcd when it differs from the process's own (an external etcd with
# its own CA); without them, an https:// etcd is reached with TESSERA_TLS_*.
ENV_ETCD_CA, ENV_ETCD_CERT, ENV_ETCD_KEY = (
    "TESSERA_ETCD_CA",
    "TESSERA_ETCD_CERT",
    "TESSERA_ETCD_KEY",
)


def endpoint_text(endpoints: str | None) -> str:
    """The endpoints to use: the argument, else TESSERA_ETCD, else localhost."""
    return endpoints or os.environ.get("TESSERA_ETCD") or DEFAULT_ENDPOINT


def parse_endpoints(endpoints: str | None) -> list[tuple[str, int]]:
    """(host, port) of each member in a comma list of `host:port` (an `http://` or
    `https://` prefix is allowed); defaults to TESSERA_ETCD, then localhost."""
    text = endpoint_text(endpoints)
    members = []
    for part in text.split(","):
        part = part.strip().removeprefix("http://").removeprefix("https://")
        if part:
            host, _, port = part.rpartition(":")
            members.append((host or "127.0.0.1", int(port)))
    if not members:
        raise ValueError(f"no etcd endpoint in {text!r}")
    return members


def uses_tls(endpoints: str | None) -> bool:
    """Whether the endpoints are https:// (all of them: a mix is refused)."""
    parts = [p.strip() for p in endpoint_text(endpoints).split(",") if p.strip()]
    secure = [p.startswith("https://") for p in parts]
    if any(secure) and not all(secure):
        raise ValueError(f"etcd endpoints mix https:// and plaintext: {endpoints!r}")
    return any(secure)


def etcd_tls() -> tls.Tls:
    """The TLS material for an https:// etcd: TESSERA_ETCD_CA/CERT/KEY, else this
    process's TESSERA_TLS_*; CertError when there is none."""
    env = os.environ
    names = (ENV_ETCD_CA, ENV_ETCD_CERT, ENV_ETCD_KEY)
    if any(env.get(name) for name in names):
        if not all(env.get(name) for name in names):
            raise certs.CertError(f"set all of {', '.join(names)}, or none")
        return tls.Tls.from_files(*(Path(env[name]) for name in names))
    material = tls.process_tls()
    if material is None:
        raise certs.CertError(
            "etcd is reached over https:// but no certificate is set: "
            f"{tls.ENV_CA}/{tls.ENV_CERT}/{tls.ENV_KEY} (or {', '.join(names)})"
        )
    return material


def check_settings(endpoints: str | None) -> None:
    """ValueError or CertError, saying what is wrong, when this process could not reach
    the etcd at endpoints as configured (checked at start-up, before any thread)."""
    parse_endpoints(endpoints)
    if uses_tls(endpoints):
        etcd_tls()


def connect(
    endpoints: str | None = None, timeout: float = 5.0, material: tls.Tls | None = None
) -> etcd3.Etcd3Client:
    """A client for the etcd at endpoints: one `host:port`, or a comma list of the
    members of an etcd cluster; `https://` ones are reached with mutual TLS (material,
    else etcd_tls()). With several, a member that fails a call is passed over for
    FAILED_MEMBER_PAUSE seconds and the next call goes to another one."""
    members = parse_endpoints(endpoints)
    secure = uses_tls(endpoints)
    credentials = None
    if secure:
        credentials = (material or etcd_tls()).channel_credentials()
    # By default one failed call makes the client refuse every call for 300 s
    # ("Trying to use a failed node"); with one member, retry on the next call.
    pause = 0 if len(members) == 1 else FAILED_MEMBER_PAUSE
    client = etcd3.MultiEndpointEtcd3Client(
        endpoints=[
            etcd3.Endpoint(host, port, secure=secure, creds=credentials, time_retry=pause)
            for host, port in members
        ],
        timeout=timeout,
        failover=len(members) > 1,
    )
    if len(members) > 1:
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
