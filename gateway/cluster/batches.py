"""Which storage RPCs the gateway coalesces, and how a batch of them is sent.

Concurrent calls of these kinds to one node go out as one batch RPC (see
coalesce.py): HEADs as HeadObjects, small whole PUTs as PutObjectsWhole, which the
node also commits in one index transaction (group commit: one fsync for the batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from proto import storage_pb2 as pb

# At most this many batches in flight to one node per kind; what arrives meanwhile
# waits for the next batch. One: fewer, fuller batches cost the nodes a quarter less
# CPU per 4 KiB GET or HEAD than two did, at the same or better throughput
# (`tessera bench-requests`, 32 connections).
IN_FLIGHT = 1
# A batch's size in cost units: 1 per call plus 1 per 128 KiB of object bytes a HEAD
# may bring back, so a batch stays well inside gRPC's 16 MiB message limit (about 8
# MiB); a PUT costs 1 per 32 KiB, so a batch holds at most seven writes big enough
# for a data file of their own (each is fsynced on its own before the batch commits).
MAX_COST = 64
_HEAD_UNIT = 128 * 1024
_PUT_UNIT = 32 * 1024


class RefusedInBatch(grpc.RpcError):
    """One call of a batch that the node refused on its own (the others went through)."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self._details = details

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.INVALID_ARGUMENT

    def details(self) -> str:
        return self._details


@dataclass(frozen=True)
class BatchRpc:
    """How calls of one unary method travel together."""

    method: str  # the batch RPC
    wrap: Callable[[list[Any]], Any]  # requests -> the batch request
    unwrap: Callable[[Any], list[Any]]  # batch reply -> one answer (or exception) each
    cost: Callable[[Any], int]


def _put_answers(reply: pb.PutBatchReply) -> list[Any]:
    return [RefusedInBatch(r.error) if r.error else r for r in reply.replies]


BATCHED: dict[str, BatchRpc] = {
    "HeadObject": BatchRpc(
        "HeadObjects",
        lambda requests: pb.HeadBatch(heads=requests),
        lambda reply: list(reply.infos),
        lambda request: 1 + request.inline_limit // _HEAD_UNIT,
    ),
    "PutObjectWhole": BatchRpc(
        "PutObjectsWhole",
        lambda requests: pb.PutWholeBatch(puts=requests),
        _put_answers,
        lambda request: 1 + len(request.data) // _PUT_UNIT,
    ),
}
