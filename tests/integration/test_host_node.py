"""`tessera node --config FILE` runs one host's storage node and gateway as two
processes: the node joins the cluster, the gateway serves S3 and reads from it, a
gateway killed with SIGKILL is started again while the storage node keeps running,
and SIGTERM stops both."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import make_client
from tools.cluster import ClusterInfo
from tools.cluster_plan import PROJECT_ROOT, child_env
from tools.cluster_processes import free_ports, http_status

CONFIG = """\
[node]
etcd = "{etcd}"

[storage-node]
node-id = "node4"
listen = "127.0.0.1:{node}"
data-dir = "{data}"
zone = "zone-4"
admin-listen = "127.0.0.1:{node_admin}"
metrics-listen = "127.0.0.1:{node_metrics}"
admin-token-file = "{token}"

[gateway]
listen = "127.0.0.1:{gateway}"
admin-listen = "127.0.0.1:{gateway_admin}"
cluster-key-file = "{key}"
gateway-id = "host4"
"""


def _pids(log: Path, name: str) -> list[int]:
    """PIDs `tessera node` logged starting `name` with, in order."""
    return [int(p) for p in re.findall(rf"started {name} pid=(\d+)", log.read_text())]


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture(scope="module")
def host(cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running `tessera node`: (process, gateway URL, its log)."""
    folder = tmp_path_factory.mktemp("host4")
    node, node_admin, node_metrics, gateway, gateway_admin = free_ports(5)
    config = folder / "tessera.toml"
    config.write_text(
        CONFIG.format(
            etcd=cluster.etcd_endpoint,
            node=node,
            node_admin=node_admin,
            node_metrics=node_metrics,
            data=folder / "data",
            token=cluster.token_file,
            gateway=gateway,
            gateway_admin=gateway_admin,
            key=cluster.key_file,
        )
    )
    log = folder / "node.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.cli", "node", "--config", str(config)],
            cwd=PROJECT_ROOT,
            env=child_env(cluster, None, os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{gateway}"
    try:
        _wait(lambda: http_status(f"{url}/readyz") == 200, 60, "the host's gateway never got ready")
        yield proc, url, log
    finally:
        if proc.poll() is None:
            proc.kill()
            for name in ("storage-node", "gateway"):
                for pid in _pids(log, name):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            proc.wait(timeout=10)


def test_the_host_serves_s3_and_lists_its_gateway_with_its_node(
    cluster: ClusterInfo, host: Any
) -> None:
    _, url, _ = host
    s3 = make_client(url, cluster.access_key, cluster.secret_key, cluster.region)
    s3.create_bucket(Bucket="host4")
    body = os.urandom(2 << 20)
    s3.put_object(Bucket="host4", Key="k", Body=body)
    assert s3.get_object(Bucket="host4", Key="k")["Body"].read() == body
    with urllib.request.urlopen(f"{url}/.well-known/tessera/gateways", timeout=10) as reply:
        listed = {g["id"]: g for g in json.load(reply)["gateways"]}
    assert listed["host4"] == {"id": "host4", "endpoint": url, "node": "node4", "zone": "zone-4"}


def test_a_killed_gateway_comes_back_and_the_node_stays(cluster: ClusterInfo, host: Any) -> None:
    proc, url, log = host
    [node_pid] = _pids(log, "storage-node")
    [gateway_pid] = _pids(log, "gateway")
    os.kill(gateway_pid, signal.SIGKILL)
    _wait(lambda: len(_pids(log, "gateway")) == 2, 30, "the gateway was not started again")
    _wait(lambda: http_status(f"{url}/readyz") == 200, 60, "the new gateway never got ready")
    assert _pids(log, "storage-node") == [node_pid]
    os.kill(node_pid, 0)  # still running
    s3 = make_client(url, cluster.access_key, cluster.secret_key, cluster.region)
    assert s3.head_bucket(Bucket="host4")

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=40) == 0
    for pid in (node_pid, _pids(log, "gateway")[-1]):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
