"""etcd failover: with a 3-member etcd (`cluster up --etcd-members 3`), SIGKILL of the
etcd leader while clients write through both gateways costs no request, and what needs
etcd keeps working on the two members left: a new bucket, a new credential that every
gateway learns through its watch, storage nodes' membership leases. The member then
comes back and catches up."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from coordinator import members
from coordinator.etcd import connect
from tests.helpers import make_client, unique_bucket_name
from tools import cluster as local
from tools.cluster import ClusterInfo
from tools.cluster_plan import PROJECT_ROOT

ETCD_MEMBERS = 3


def _leader(cluster: ClusterInfo) -> str:
    """The process name of the etcd member that leads now."""
    client = connect(cluster.etcd_endpoint)
    try:
        leader_id = client.status().leader.id
        urls = {m.id: m.client_urls[0] for m in client.members}
    finally:
        client.close()
    port = int(urls[leader_id].rpartition(":")[2])
    return next(n for n in cluster.etcd_members if cluster.processes[n].port == port)


def _live_nodes(cluster: ClusterInfo) -> set[str]:
    client = connect(cluster.etcd_endpoint)
    try:
        return set(members.live_nodes(client))
    finally:
        client.close()


def _generate_key(cluster: ClusterInfo) -> tuple[str, str]:
    result = subprocess.run(
        [sys.executable, "-m", "tools.cli", "credential", "generate", "--json"]
        + ["--data-dir", str(cluster.data_dir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    return created["access_key"], created["secret_key"]


def test_the_cluster_keeps_working_when_the_etcd_leader_dies(
    cluster: ClusterInfo, s3_clients: list[Any], bucket: str
) -> None:
    failures: list[str] = []
    done = 0
    stop = threading.Event()

    def traffic(client: Any, writer: int) -> None:
        nonlocal done
        n = 0
        while not stop.is_set():
            key = f"w{writer}-{n % 50}"
            body = f"{writer}:{n}".encode()
            try:
                client.put_object(Bucket=bucket, Key=key, Body=body)
                assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == body
                if n % 7 == 0:
                    client.delete_object(Bucket=bucket, Key=key)
                done += 1
            except Exception as exc:
                failures.append(f"{key}: {exc!r}")
            n += 1

    lapses: list[set[str]] = []

    def watch_leases() -> None:
        # A storage node whose lease lapsed (its etcd client stuck on the dead member)
        # would drop out of membership for a moment: poll through the whole test.
        while not stop.is_set():
            try:
                live = _live_nodes(cluster)
            except Exception:
                live = None  # this poll's own client met the dead member; not the nodes
            if live is not None and live != set(cluster.nodes):
                lapses.append(live)
            time.sleep(0.3)

    threads = [
        threading.Thread(target=traffic, args=(c, i), daemon=True) for i, c in enumerate(s3_clients)
    ]
    threads.append(threading.Thread(target=watch_leases, daemon=True))
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        leader = _leader(cluster)
        local.kill(cluster, leader, signal.SIGKILL)
        before = done
        time.sleep(8)  # leader election, leases renewed on the other members, traffic on
        assert done > before, "no request completed after the etcd leader died"

        # What needs etcd: a bucket made through one gateway, seen by the other...
        other = unique_bucket_name("after-leader-died")
        s3_clients[0].create_bucket(Bucket=other)
        s3_clients[1].put_object(Bucket=other, Key="k", Body=b"v")
        # ...a credential, which every gateway learns only through its etcd watch...
        access, secret = _generate_key(cluster)
        deadline = time.monotonic() + 15
        for url in cluster.endpoints:
            fresh = make_client(url, access, secret, cluster.region)
            while True:
                try:
                    fresh.list_buckets()
                    break
                except Exception:
                    assert time.monotonic() < deadline, f"{url} never learned the new key"
                    time.sleep(0.3)
        # ...and every storage node still holds its membership lease.
        assert _live_nodes(cluster) == set(cluster.nodes)
        s3_clients[1].delete_object(Bucket=other, Key="k")
        s3_clients[1].delete_bucket(Bucket=other)

        local.start(cluster, leader)
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not failures, failures[:5]
    assert not lapses, f"storage nodes dropped out of membership: {lapses[:3]}"
    assert done > 50
    client = connect(f"127.0.0.1:{cluster.processes[leader].port}")
    try:
        assert client.status().raft_index > 0  # the member is back in the cluster
        assert client.get_prefix("/") is not None
    finally:
        client.close()
