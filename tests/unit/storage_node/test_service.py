"""The Storage gRPC service over a real in-process server on 127.0.0.1."""

import os
from concurrent import futures

import grpc
import pytest

from proto import storage_pb2 as pb
from proto import storage_pb2_grpc as pb_grpc
from storage_node.diskstore import BLOCK_SIZE, DiskStore
from storage_node.service import StorageService

SIZES = (BLOCK_SIZE + 4_321, BLOCK_SIZE + 99_999, 777)


@pytest.fixture
def node(tmp_path):
    """(stub, store) of a StorageService listening on a free local port."""
    store = DiskStore(tmp_path)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_StorageServicer_to_server(StorageService(store, "n1", "z1"), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield pb_grpc.StorageStub(channel), store
    finally:
        channel.close()
        server.stop(grace=None).wait()


def _put(stub, bucket, key, version, data, ts=1):
    def messages():
        yield pb.PutMessage(
            header=pb.PutHeader(bucket=bucket, key=key, version_id=version, timestamp=ts)
        )
        for i in range(0, len(data), 256 * 1024):
            yield pb.PutMessage(data=data[i : i + 256 * 1024])
        yield pb.PutMessage(commit=pb.PutCommit(size=len(data), meta=b"m"))

    return stub.PutObject(messages())


def _upload_parts(stub):
    datas = [os.urandom(size) for size in SIZES]
    sources = []
    for n, data in enumerate(datas, start=1):
        _put(stub, "up", f"x/{n}", f"p{n}", data)
        sources.append(pb.ComposeSource(key=f"x/{n}", version_id=f"p{n}"))
    return sources, b"".join(datas)


def _compose(stub, sources, version="vc", ts=10):
    header = pb.PutHeader(bucket="b", key="obj", version_id=version, timestamp=ts)
    request = pb.ComposeRequest(header=header, source_bucket="up", sources=sources, meta=b"e")
    return stub.ComposeObject(request)


def _get(stub, offset=0, length=0):
    chunks = list(
        stub.GetObject(pb.GetRequest(bucket="b", key="obj", offset=offset, length=length))
    )
    assert chunks[0].info.found
    return b"".join(c.data for c in chunks[1:])


def test_compose_then_ranged_reads(node):
    stub, _ = node
    sources, whole = _upload_parts(stub)
    reply = _compose(stub, sources)
    assert reply.applied and reply.size == len(whole)
    assert _get(stub) == whole
    a, b = SIZES[0], SIZES[0] + SIZES[1]
    for edge in (BLOCK_SIZE, a, a + BLOCK_SIZE, b):
        for offset, length in ((edge - 1, 2), (edge - 10, 20), (edge, 1), (edge - 1, 0)):
            assert _get(stub, offset, length) == whole[offset : offset + length if length else None]
    info = stub.NodeInfo(pb.NodeInfoRequest())
    assert (info.objects, info.bytes_stored) == (1, len(whole))
    assert _compose(stub, sources).applied  # a retry


def test_missing_source_is_failed_precondition(node):
    stub, store = node
    sources, _ = _upload_parts(stub)
    bad = [*sources[:1], pb.ComposeSource(key="x/2", version_id="wrong"), *sources[2:]]
    for attempt in (bad, [*sources, pb.ComposeSource(key="x/9", version_id="p9")]):
        with pytest.raises(grpc.RpcError) as err:
            _compose(stub, attempt)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "x/" in err.value.details()
    assert not stub.HeadObject(pb.HeadRequest(bucket="b", key="obj")).found
    assert store.stats() == (3, sum(SIZES))


def test_bad_compose_is_invalid_argument(node):
    stub, _ = node
    for sources, version in (([], "vc"), ([pb.ComposeSource(key="k", version_id="v")], "")):
        with pytest.raises(grpc.RpcError) as err:
            _compose(stub, sources, version=version)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_compose_loses_to_newer_version(node):
    stub, store = node
    sources, _ = _upload_parts(stub)
    _put(stub, "b", "obj", "vnew", b"new", ts=50)
    assert not _compose(stub, sources, ts=10).applied
    assert _get(stub) == b"new"
    assert store.stats() == (1, 3)
    assert not any(p.is_file() for p in store.objects_dir.rglob("*"))


def test_small_composed_object_comes_with_head(node):
    stub, _ = node
    _put(stub, "up", "s/1", "s1", b"abc")
    _put(stub, "up", "s/2", "s2", b"def")
    sources = [
        pb.ComposeSource(key="s/1", version_id="s1"),
        pb.ComposeSource(key="s/2", version_id="s2"),
    ]
    assert _compose(stub, sources).size == 6
    info = stub.HeadObject(pb.HeadRequest(bucket="b", key="obj", inline_limit=1024))
    assert info.has_data and info.data == b"abcdef" and info.meta == b"e"


def test_delete_prefix_and_namespaces(node):
    stub, _ = node
    _upload_parts(stub)
    _put(stub, "up", "y/1", "y1", b"keep")
    _put(stub, "other", "k", "o1", b"o")
    reply = stub.ListNamespaces(pb.ListNamespacesRequest())
    assert list(reply.namespaces) == ["other", "up"]
    assert list(stub.ListNamespaces(pb.ListNamespacesRequest(prefix="u")).namespaces) == ["up"]
    assert stub.DeletePrefix(pb.DeletePrefixRequest(bucket="up", prefix="x/")).deleted == 3
    listed = stub.ListObjects(pb.ListRequest(bucket="up"))
    assert [e.key for e in listed.entries] == ["y/1"]
    with pytest.raises(grpc.RpcError) as err:
        stub.DeletePrefix(pb.DeletePrefixRequest(bucket="", prefix="x/"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _whole(key, version, data, ts, size=None):
    return pb.PutWhole(
        header=pb.PutHeader(bucket="g", key=key, version_id=version, timestamp=ts),
        data=data,
        commit=pb.PutCommit(size=len(data) if size is None else size, meta=b"m"),
    )


def test_a_batch_of_whole_puts_is_one_commit_and_refuses_alone(node, monkeypatch):
    stub, store = node
    commits = []
    store_many = store.index.store_many
    monkeypatch.setattr(
        store.index, "store_many", lambda rows: commits.append(len(rows)) or store_many(rows)
    )
    big = os.urandom(200_000)  # a data file, not an inline row
    batch = pb.PutWholeBatch(
        puts=[
            _whole("a", "va", b"alpha", ts=5),
            _whole("bad", "vbad", b"short", ts=5, size=99),  # refused alone
            _whole("big", "vbig", big, ts=5),
            _whole("a", "va-old", b"older", ts=1),  # loses to va: durable, not applied
        ]
    )
    replies = stub.PutObjectsWhole(batch).replies
    assert commits == [3]  # one index transaction for everything that sealed
    assert [r.error != "" for r in replies] == [False, True, False, False]
    assert "size mismatch" in replies[1].error
    assert [r.applied for r in replies] == [True, False, True, False]
    assert replies[0].newest_timestamp == 5 and replies[3].newest_timestamp == 5
    head = stub.HeadObject(pb.HeadRequest(bucket="g", key="big", inline_limit=1 << 20))
    assert head.version_id == "vbig" and head.data == big
    assert not stub.HeadObject(pb.HeadRequest(bucket="g", key="bad")).found
    assert not store.data_path("va-old").exists() and not list(store.tmp_dir.iterdir())


def test_a_batch_of_heads_answers_in_order(node):
    stub, _ = node
    stub.PutObjectWhole(_whole("x", "vx", b"xx", ts=3))
    infos = stub.HeadObjects(
        pb.HeadBatch(
            heads=[
                pb.HeadRequest(bucket="g", key="missing"),
                pb.HeadRequest(bucket="g", key="x", inline_limit=10),
                pb.HeadRequest(bucket="g", key="x"),
            ]
        )
    ).infos
    assert [i.found for i in infos] == [False, True, True]
    assert infos[1].data == b"xx" and not infos[2].has_data
