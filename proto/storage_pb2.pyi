from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListVersionsRequest(_message.Message):
    __slots__ = ("bucket", "prefix", "key_marker", "marker_timestamp", "marker_version_id", "limit")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    KEY_MARKER_FIELD_NUMBER: _ClassVar[int]
    MARKER_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    MARKER_VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    prefix: str
    key_marker: str
    marker_timestamp: int
    marker_version_id: str
    limit: int
    def __init__(self, bucket: _Optional[str] = ..., prefix: _Optional[str] = ..., key_marker: _Optional[str] = ..., marker_timestamp: _Optional[int] = ..., marker_version_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class DeleteVersionRequest(_message.Message):
    __slots__ = ("bucket", "key", "version_id", "null_version")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    NULL_VERSION_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    null_version: bool
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., null_version: _Optional[bool] = ...) -> None: ...

class DeleteVersionReply(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: ObjectInfo
    def __init__(self, removed: _Optional[_Union[ObjectInfo, _Mapping]] = ...) -> None: ...

class UpdateMetaRequest(_message.Message):
    __slots__ = ("bucket", "key", "version_id", "meta")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    meta: bytes
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., meta: _Optional[bytes] = ...) -> None: ...

class UpdateMetaReply(_message.Message):
    __slots__ = ("applied",)
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    def __init__(self, applied: _Optional[bool] = ...) -> None: ...

class ComposeSource(_message.Message):
    __slots__ = ("key", "version_id")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    key: str
    version_id: str
    def __init__(self, key: _Optional[str] = ..., version_id: _Optional[str] = ...) -> None: ...

class ComposeRequest(_message.Message):
    __slots__ = ("header", "source_bucket", "sources", "meta")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_BUCKET_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    header: PutHeader
    source_bucket: str
    sources: _containers.RepeatedCompositeFieldContainer[ComposeSource]
    meta: bytes
    def __init__(self, header: _Optional[_Union[PutHeader, _Mapping]] = ..., source_bucket: _Optional[str] = ..., sources: _Optional[_Iterable[_Union[ComposeSource, _Mapping]]] = ..., meta: _Optional[bytes] = ...) -> None: ...

class DeletePrefixRequest(_message.Message):
    __slots__ = ("bucket", "prefix")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    prefix: str
    def __init__(self, bucket: _Optional[str] = ..., prefix: _Optional[str] = ...) -> None: ...

class DeletePrefixReply(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class ListNamespacesRequest(_message.Message):
    __slots__ = ("prefix",)
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    def __init__(self, prefix: _Optional[str] = ...) -> None: ...

class ListNamespacesReply(_message.Message):
    __slots__ = ("namespaces",)
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    namespaces: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, namespaces: _Optional[_Iterable[str]] = ...) -> None: ...

class PutHeader(_message.Message):
    __slots__ = ("bucket", "key", "version_id", "timestamp", "versioned", "restampable")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    VERSIONED_FIELD_NUMBER: _ClassVar[int]
    RESTAMPABLE_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    timestamp: int
    versioned: bool
    restampable: bool
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., versioned: _Optional[bool] = ..., restampable: _Optional[bool] = ...) -> None: ...

class RestampRequest(_message.Message):
    __slots__ = ("bucket", "key", "version_id", "timestamp")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    timestamp: int
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., timestamp: _Optional[int] = ...) -> None: ...

class PutCommit(_message.Message):
    __slots__ = ("size", "meta", "timestamp")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    size: int
    meta: bytes
    timestamp: int
    def __init__(self, size: _Optional[int] = ..., meta: _Optional[bytes] = ..., timestamp: _Optional[int] = ...) -> None: ...

class PutMessage(_message.Message):
    __slots__ = ("header", "data", "commit")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    header: PutHeader
    data: bytes
    commit: PutCommit
    def __init__(self, header: _Optional[_Union[PutHeader, _Mapping]] = ..., data: _Optional[bytes] = ..., commit: _Optional[_Union[PutCommit, _Mapping]] = ...) -> None: ...

class PutWhole(_message.Message):
    __slots__ = ("header", "data", "commit")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    header: PutHeader
    data: bytes
    commit: PutCommit
    def __init__(self, header: _Optional[_Union[PutHeader, _Mapping]] = ..., data: _Optional[bytes] = ..., commit: _Optional[_Union[PutCommit, _Mapping]] = ...) -> None: ...

class PutReply(_message.Message):
    __slots__ = ("applied", "size", "newest_timestamp", "error", "superseded")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    NEWEST_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    size: int
    newest_timestamp: int
    error: str
    superseded: bool
    def __init__(self, applied: _Optional[bool] = ..., size: _Optional[int] = ..., newest_timestamp: _Optional[int] = ..., error: _Optional[str] = ..., superseded: _Optional[bool] = ...) -> None: ...

class PutWholeBatch(_message.Message):
    __slots__ = ("puts",)
    PUTS_FIELD_NUMBER: _ClassVar[int]
    puts: _containers.RepeatedCompositeFieldContainer[PutWhole]
    def __init__(self, puts: _Optional[_Iterable[_Union[PutWhole, _Mapping]]] = ...) -> None: ...

class PutBatchReply(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[PutReply]
    def __init__(self, replies: _Optional[_Iterable[_Union[PutReply, _Mapping]]] = ...) -> None: ...

class HeadRequest(_message.Message):
    __slots__ = ("bucket", "key", "inline_limit", "version_id", "null_version")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    INLINE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    NULL_VERSION_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    inline_limit: int
    version_id: str
    null_version: bool
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., inline_limit: _Optional[int] = ..., version_id: _Optional[str] = ..., null_version: _Optional[bool] = ...) -> None: ...

class ObjectInfo(_message.Message):
    __slots__ = ("found", "key", "version_id", "timestamp", "size", "deleted", "meta", "has_data", "data", "versioned", "purged")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    HAS_DATA_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    VERSIONED_FIELD_NUMBER: _ClassVar[int]
    PURGED_FIELD_NUMBER: _ClassVar[int]
    found: bool
    key: str
    version_id: str
    timestamp: int
    size: int
    deleted: bool
    meta: bytes
    has_data: bool
    data: bytes
    versioned: bool
    purged: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, found: _Optional[bool] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., size: _Optional[int] = ..., deleted: _Optional[bool] = ..., meta: _Optional[bytes] = ..., has_data: _Optional[bool] = ..., data: _Optional[bytes] = ..., versioned: _Optional[bool] = ..., purged: _Optional[_Iterable[str]] = ...) -> None: ...

class HeadBatch(_message.Message):
    __slots__ = ("heads",)
    HEADS_FIELD_NUMBER: _ClassVar[int]
    heads: _containers.RepeatedCompositeFieldContainer[HeadRequest]
    def __init__(self, heads: _Optional[_Iterable[_Union[HeadRequest, _Mapping]]] = ...) -> None: ...

class HeadBatchReply(_message.Message):
    __slots__ = ("infos",)
    INFOS_FIELD_NUMBER: _ClassVar[int]
    infos: _containers.RepeatedCompositeFieldContainer[ObjectInfo]
    def __init__(self, infos: _Optional[_Iterable[_Union[ObjectInfo, _Mapping]]] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("bucket", "key", "version_id", "offset", "length")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    offset: int
    length: int
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class GetChunk(_message.Message):
    __slots__ = ("info", "data")
    INFO_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    info: ObjectInfo
    data: bytes
    def __init__(self, info: _Optional[_Union[ObjectInfo, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("bucket", "key", "version_id", "timestamp", "versioned")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    VERSIONED_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    timestamp: int
    versioned: bool
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., versioned: _Optional[bool] = ...) -> None: ...

class DeleteBatch(_message.Message):
    __slots__ = ("deletes",)
    DELETES_FIELD_NUMBER: _ClassVar[int]
    deletes: _containers.RepeatedCompositeFieldContainer[DeleteRequest]
    def __init__(self, deletes: _Optional[_Iterable[_Union[DeleteRequest, _Mapping]]] = ...) -> None: ...

class DeleteBatchReply(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[DeleteReply]
    def __init__(self, replies: _Optional[_Iterable[_Union[DeleteReply, _Mapping]]] = ...) -> None: ...

class DeleteReply(_message.Message):
    __slots__ = ("applied", "newest_timestamp", "superseded")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    NEWEST_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    newest_timestamp: int
    superseded: bool
    def __init__(self, applied: _Optional[bool] = ..., newest_timestamp: _Optional[int] = ..., superseded: _Optional[bool] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("bucket", "prefix", "start_after", "limit")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    START_AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    prefix: str
    start_after: str
    limit: int
    def __init__(self, bucket: _Optional[str] = ..., prefix: _Optional[str] = ..., start_after: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListReply(_message.Message):
    __slots__ = ("entries", "complete")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ObjectInfo]
    complete: bool
    def __init__(self, entries: _Optional[_Iterable[_Union[ObjectInfo, _Mapping]]] = ..., complete: _Optional[bool] = ...) -> None: ...

class NodeInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeInfoReply(_message.Message):
    __slots__ = ("node_id", "zone", "capacity_bytes", "used_bytes", "objects", "bytes_stored", "version", "uptime_seconds")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    BYTES_STORED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    zone: str
    capacity_bytes: int
    used_bytes: int
    objects: int
    bytes_stored: int
    version: str
    uptime_seconds: float
    def __init__(self, node_id: _Optional[str] = ..., zone: _Optional[str] = ..., capacity_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., objects: _Optional[int] = ..., bytes_stored: _Optional[int] = ..., version: _Optional[str] = ..., uptime_seconds: _Optional[float] = ...) -> None: ...

class SyncDigestRequest(_message.Message):
    __slots__ = ("peer", "placement", "slots")
    PEER_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    peer: str
    placement: str
    slots: int
    def __init__(self, peer: _Optional[str] = ..., placement: _Optional[str] = ..., slots: _Optional[int] = ...) -> None: ...

class SyncDigestReply(_message.Message):
    __slots__ = ("digests",)
    DIGESTS_FIELD_NUMBER: _ClassVar[int]
    digests: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, digests: _Optional[_Iterable[int]] = ...) -> None: ...

class SyncEntriesRequest(_message.Message):
    __slots__ = ("peer", "placement", "slots", "wanted")
    PEER_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    WANTED_FIELD_NUMBER: _ClassVar[int]
    peer: str
    placement: str
    slots: int
    wanted: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, peer: _Optional[str] = ..., placement: _Optional[str] = ..., slots: _Optional[int] = ..., wanted: _Optional[_Iterable[int]] = ...) -> None: ...

class SyncEntry(_message.Message):
    __slots__ = ("bucket", "key", "version_id", "timestamp", "deleted", "purged")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    PURGED_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    version_id: str
    timestamp: int
    deleted: bool
    purged: bool
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., version_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., deleted: _Optional[bool] = ..., purged: _Optional[bool] = ...) -> None: ...

class SyncEntryBatch(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[SyncEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[SyncEntry, _Mapping]]] = ...) -> None: ...

class RepairKeyRequest(_message.Message):
    __slots__ = ("bucket", "key", "nodes")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    nodes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., nodes: _Optional[_Iterable[str]] = ...) -> None: ...

class RepairKeyReply(_message.Message):
    __slots__ = ("queued",)
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    queued: bool
    def __init__(self, queued: _Optional[bool] = ...) -> None: ...

class CollectRequest(_message.Message):
    __slots__ = ("peer", "placement", "entries", "forget")
    PEER_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    FORGET_FIELD_NUMBER: _ClassVar[int]
    peer: str
    placement: str
    entries: _containers.RepeatedCompositeFieldContainer[SyncEntry]
    forget: bool
    def __init__(self, peer: _Optional[str] = ..., placement: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[SyncEntry, _Mapping]]] = ..., forget: _Optional[bool] = ...) -> None: ...

class CollectReply(_message.Message):
    __slots__ = ("clear",)
    CLEAR_FIELD_NUMBER: _ClassVar[int]
    clear: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, clear: _Optional[_Iterable[bool]] = ...) -> None: ...
