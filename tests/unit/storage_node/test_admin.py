"""A storage node's Admin service over a real in-process gRPC server: the token check,
and numbers that agree with NodeInfo and /metrics."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from coordinator import admin_token
from coordinator.placement import NodeEntry
from proto import admin_pb2 as apb
from proto import admin_pb2_grpc as apb_grpc
from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from storage_node import admin
from storage_node.diskstore import DiskStore
from storage_node.metrics import MetricsInterceptor, NodeMetrics
from storage_node.service import StorageService
from tests.unit.gateway.test_metrics import parse, value

TOKEN = admin_token.derive(b"k" * 32)


class FakeView:
    """The PlacementView surface NodeAdmin uses, without etcd."""

    def __init__(self, entries: list[NodeEntry], epoch: int) -> None:
        self.entries = {e.node_id: e for e in entries}
        self.epoch = epoch

    def entry(self, node_id: str) -> NodeEntry | None:
        return self.entries.get(node_id)

    def reply(self) -> apb.PlacementReply:
        reply = apb.PlacementReply(epoch=self.epoch, loaded=True)
        for e in self.entries.values():
            reply.nodes.add(node_id=e.node_id, address=e.address, zone=e.zone, state=e.state)
        return reply


@pytest.fixture
def node(tmp_path):
    """(storage stub, admin stub, metrics, store) of one node in this process."""
    store = DiskStore(tmp_path)
    metrics = NodeMetrics()
    service = StorageService(store, "n1", "z1")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=[MetricsInterceptor(metrics)]
    )
    pb_grpc.add_StorageServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    identity = admin.NodeIdentity(
        node_id="n1",
        zone="z1",
        address=f"127.0.0.1:{port}",
        admin_address="127.0.0.1:0",
        metrics_url="",
        started=service.started,
    )
    view = FakeView([NodeEntry("n1", f"127.0.0.1:{port}", "z1", state="draining")], epoch=7)
    servicer = admin.NodeAdmin(identity, store, metrics, view)  # type: ignore[arg-type]
    admin_server, admin_port = admin_token.start_server(
        apb_grpc.add_AdminServicer_to_server, servicer, "127.0.0.1:0", TOKEN
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    admin_channel = grpc.insecure_channel(f"127.0.0.1:{admin_port}")
    try:
        yield pb_grpc.StorageStub(channel), apb_grpc.AdminStub(admin_channel), metrics, store
    finally:
        channel.close()
        admin_channel.close()
        admin_server.stop(grace=None).wait()
        server.stop(grace=None).wait()


def _put(stub, key: str, data: bytes) -> None:
    header = pb.PutHeader(bucket="b", key=key, version_id="v" + key, timestamp=1)
    stub.PutObjectWhole(pb.PutWhole(header=header, data=data, commit=pb.PutCommit(size=len(data))))


AUTH = admin_token.call_metadata(TOKEN)


@pytest.mark.parametrize("metadata", [None, admin_token.call_metadata("w" * 64)])
def test_calls_without_the_token_are_refused(node, metadata) -> None:
    _, stub, _, _ = node
    for call, request in ((stub.Info, apb.InfoRequest()), (stub.Usage, apb.UsageRequest())):
        with pytest.raises(grpc.RpcError) as caught:
            call(request, timeout=5, metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_info_usage_and_stats_agree_with_node_info_and_metrics(node) -> None:
    storage, stub, metrics, store = node
    _put(storage, "a", b"x" * 1000)
    _put(storage, "b", b"y" * 24)
    with pytest.raises(grpc.RpcError):
        list(storage.GetObject(pb.GetRequest(bucket="b", key="missing")))

    info = stub.Info(apb.InfoRequest(), timeout=5, metadata=AUTH)
    assert (info.id, info.kind, info.zone, info.state) == ("n1", apb.NODE, "z1", "draining")
    assert info.uptime_seconds >= 0 and info.pid > 0

    usage = stub.Usage(apb.UsageRequest(), timeout=5, metadata=AUTH)
    node_info = storage.NodeInfo(pb.NodeInfoRequest())
    assert (usage.objects, usage.bytes_stored) == (2, 1024)
    assert (usage.objects, usage.bytes_stored) == (node_info.objects, node_info.bytes_stored)
    assert usage.capacity_bytes == node_info.capacity_bytes
    assert [(b.bucket, b.objects, b.bytes) for b in usage.buckets] == [("b", 2, 1024)]
    assert info.version == node_info.version

    stats = stub.Stats(apb.StatsRequest(), timeout=5, metadata=AUTH)
    _, samples = parse(metrics.render(store.stats, lambda: admin.disk(store)))
    assert stats.requests_total == sum(v for n, _, v in samples if n == "storage_requests_total")
    assert stats.bytes_in == value(samples, "storage_bytes_written_total") == 1024
    assert stats.client_errors_total == 1  # the NOT_FOUND
    assert stats.errors_total == 0
    assert value(samples, "storage_objects") == usage.objects
    assert value(samples, "storage_bytes_stored") == usage.bytes_stored
    assert value(samples, "storage_capacity_bytes") == usage.capacity_bytes
    # Admin calls do not count as Storage RPCs.
    again = stub.Stats(apb.StatsRequest(), timeout=5, metadata=AUTH)
    assert again.requests_total == stats.requests_total

    placement = stub.Placement(apb.PlacementRequest(), timeout=5, metadata=AUTH)
    assert placement.epoch == 7 and [n.node_id for n in placement.nodes] == ["n1"]
    assert list(stub.Progress(apb.ProgressRequest(), timeout=5, metadata=AUTH).jobs) == []


def test_stats_reply_classifies_codes() -> None:
    requests = {
        ("PutObject", "OK"): 5,
        ("GetObject", "NOT_FOUND"): 2,
        ("PutObject", "ABORTED"): 1,
        ("GetObject", "DATA_LOSS"): 1,
        ("ListObjects", "UNKNOWN"): 3,
    }
    reply = admin.stats_reply(requests, 100, 50, 1.5)
    assert reply.requests_total == 12
    assert reply.client_errors_total == 3
    assert reply.errors_total == 4
    assert (reply.bytes_in, reply.bytes_out, reply.uptime_seconds) == (100, 50, 1.5)
    assert [(r.operation, r.code) for r in reply.requests][0] == ("GetObject", "DATA_LOSS")


def test_default_ports_sit_beside_the_storage_port() -> None:
    assert admin.listen_addresses("10.0.0.1:7100", None, None) == (
        "10.0.0.1:7101",
        "10.0.0.1:7102",
    )
    assert admin.listen_addresses("h:7100", "h:9", "off") == ("h:9", None)
    assert admin.listen_addresses("h:7100", "none", "h:8") == (None, "h:8")


def test_a_taken_admin_port_fails_loudly() -> None:
    server, port = admin_token.start_server(
        apb_grpc.add_AdminServicer_to_server, apb_grpc.AdminServicer(), "127.0.0.1:0", TOKEN
    )
    try:
        with pytest.raises(OSError):
            admin_token.start_server(
                apb_grpc.add_AdminServicer_to_server,
                apb_grpc.AdminServicer(),
                f"127.0.0.1:{port}",
                TOKEN,
            )
    finally:
        server.stop(grace=None).wait()


def _free_triple() -> int:
    """A port P with P, P+1 and P+2 free on 127.0.0.1 right now."""
    import socket

    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + 2 > 65535:
            continue
        sockets = []
        try:
            for port in (base, base + 1, base + 2):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no three free ports in a row")


def test_metrics_are_served_by_default_beside_the_storage_port(tmp_path, monkeypatch) -> None:
    import argparse
    import urllib.request

    for name in ("TESSERA_ADMIN_TOKEN", "TESSERA_ADMIN_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TESSERA_CLUSTER_KEY", raising=False)
    monkeypatch.delenv("TESSERA_CLUSTER_KEY_FILE", raising=False)
    base = _free_triple()
    args = argparse.Namespace(
        node_id="n1",
        zone="z1",
        listen=f"127.0.0.1:{base}",
        advertise=None,
        admin_listen=None,
        metrics_listen=None,
        admin_token_file=None,
    )
    store = DiskStore(tmp_path)
    endpoints = admin.start(args, store, NodeMetrics(), 0.0, connect=lambda: None)  # type: ignore[arg-type]
    try:
        url = f"http://127.0.0.1:{base + 2}/metrics"
        assert endpoints.record == {"metrics_url": url}  # no token: no Admin service
        with urllib.request.urlopen(url, timeout=5) as reply:
            _, samples = parse(reply.read())
        assert value(samples, "storage_objects") == 0
        assert value(samples, "storage_capacity_bytes") > 0
    finally:
        endpoints.stop()


def test_drain_calls_need_a_mover(node) -> None:
    _, stub, _, _ = node
    for call, request in (
        (stub.Drain, apb.DrainRequest()),
        (stub.Undrain, apb.UndrainRequest()),
        (stub.Remove, apb.RemoveRequest(force=True)),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call(request, timeout=5, metadata=AUTH)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_progress_reports_the_movers_job(tmp_path) -> None:
    class FakeMover:
        def jobs(self):
            return [apb.Job(name="drain", state="running", done=3, total=9, unit="versions")]

    identity = admin.NodeIdentity("n1", "z1", "a:1", "a:2", "", 0.0)
    view = FakeView([], epoch=1)
    servicer = admin.NodeAdmin(identity, DiskStore(tmp_path), NodeMetrics(), view, FakeMover())  # type: ignore[arg-type]
    (job,) = servicer.Progress(apb.ProgressRequest(), None).jobs
    assert (job.name, job.state, job.done, job.total) == ("drain", "running", 3, 9)
