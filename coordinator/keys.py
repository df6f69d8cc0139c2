"""The etcd key schema: every key Tessera writes is built here and nowhere else."""

from __future__ import annotations

ROOT = "/tessera/"

CREDENTIALS = ROOT + "credentials/"
BUCKETS = ROOT + "buckets/"
PLACEMENT = ROOT + "placement/"
PLACEMENT_NODES = PLACEMENT + "nodes/"
PLACEMENT_EPOCH = PLACEMENT + "epoch"
MEMBER_NODES = ROOT + "members/nodes/"
MEMBER_GATEWAYS = ROOT + "members/gateways/"
SETTINGS = ROOT + "settings/"
UPLOADS = ROOT + "uploads/"
ELECTIONS = ROOT + "elections/"
KEY_LOCKS = ROOT + "keylocks/"
USAGE = ROOT + "usage/"
JOBS = ROOT + "jobs/"
DRAIN_JOBS = JOBS + "drain/"


def credential(access_key: str) -> str:
    return CREDENTIALS + access_key


def bucket(name: str) -> str:
    return BUCKETS + name


def placement_node(node_id: str) -> str:
    return PLACEMENT_NODES + node_id


def member_node(node_id: str) -> str:
    return MEMBER_NODES + node_id


def member_gateway(gateway_id: str) -> str:
    return MEMBER_GATEWAYS + gateway_id


def usage(gateway_id: str) -> str:
    """A gateway's usage report: requests per access key and its credential cache state."""
    return USAGE + gateway_id


def name_of(key: bytes | str, prefix: str) -> str:
    """The record name after a prefix, e.g. the bucket name of a bucket key."""
    text = key.decode() if isinstance(key, bytes) else key
    return text[len(prefix) :]


def uploads_of(bucket: str) -> str:
    return f"{UPLOADS}{bucket}/"


def upload(bucket: str, upload_id: str) -> str:
    return f"{UPLOADS}{bucket}/{upload_id}"


def setting(name: str) -> str:
    return SETTINGS + name


def election(job: str) -> str:
    return ELECTIONS + job


def key_lock(bucket: str, key: str) -> str:
    # The etcd3 lock recipe puts its own "/locks/" in front of the name.
    return f"{KEY_LOCKS}{bucket}/{key}"


def drain_job(node_id: str) -> str:
    return DRAIN_JOBS + node_id
