"""Storage-node metrics: the interceptor's counts and the /metrics HTTP endpoint."""

import urllib.error
import urllib.request
from concurrent import futures

import grpc
import pytest

from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from storage_node.diskstore import DiskStore
from storage_node.metrics import MetricsInterceptor, NodeMetrics, serve
from storage_node.service import StorageService
from tests.unit.gateway.test_metrics import parse, value


@pytest.fixture
def node(tmp_path):
    """(stub, metrics, store) of a StorageService with the metrics interceptor."""
    store = DiskStore(tmp_path)
    metrics = NodeMetrics()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=[MetricsInterceptor(metrics)]
    )
    pb_grpc.add_StorageServicer_to_server(StorageService(store, "n1", "z1"), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield pb_grpc.StorageStub(channel), metrics, store
    finally:
        channel.close()
        server.stop(grace=None).wait()


def _put(stub, key, data):
    def messages():
        yield pb.PutMessage(header=pb.PutHeader(bucket="b", key=key, version_id="v", timestamp=1))
        yield pb.PutMessage(data=data[:100])
        yield pb.PutMessage(data=data[100:])
        yield pb.PutMessage(commit=pb.PutCommit(size=len(data), meta=b"m"))

    return stub.PutObject(messages())


def test_rpcs_and_bytes_are_counted(node):
    stub, metrics, store = node
    _put(stub, "k1", b"x" * 1000)
    header = pb.PutHeader(bucket="b", key="k2", version_id="v", timestamp=1)
    stub.PutObjectWhole(pb.PutWhole(header=header, data=b"y" * 50, commit=pb.PutCommit(size=50)))
    chunks = list(stub.GetObject(pb.GetRequest(bucket="b", key="k1")))
    assert sum(len(c.data) for c in chunks) == 1000
    assert stub.HeadObject(pb.HeadRequest(bucket="b", key="k2", inline_limit=1 << 20)).has_data
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.GetObject(pb.GetRequest(bucket="b", key="missing")))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    _, samples = parse(metrics.render(store.stats))
    assert value(samples, "storage_requests_total", method="PutObject", code="OK") == 1
    assert value(samples, "storage_requests_total", method="PutObjectWhole", code="OK") == 1
    assert value(samples, "storage_requests_total", method="GetObject", code="OK") == 1
    assert value(samples, "storage_requests_total", method="GetObject", code="NOT_FOUND") == 1
    assert value(samples, "storage_requests_total", method="HeadObject", code="OK") == 1
    assert value(samples, "storage_bytes_written_total") == 1050
    assert value(samples, "storage_bytes_read_total") == 1050  # 1000 streamed, 50 inline
    assert value(samples, "storage_objects") == 2
    assert value(samples, "storage_bytes_stored") == 1050


def test_http_endpoint(node):
    stub, metrics, store = node
    _put(stub, "k", b"z" * 300)
    server = serve("127.0.0.1:0", lambda: metrics.render(store.stats))
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as reply:
            assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            types, samples = parse(reply.read())
        assert types["storage_requests_total"] == "counter"
        assert types["storage_objects"] == "gauge"
        assert value(samples, "storage_bytes_stored") == 300
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{base}/other", timeout=5)
        assert caught.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
