from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KIND_UNSPECIFIED: _ClassVar[Kind]
    NODE: _ClassVar[Kind]
    GATEWAY: _ClassVar[Kind]
KIND_UNSPECIFIED: Kind
NODE: Kind
GATEWAY: Kind

class ScrubRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ScrubReply(_message.Message):
    __slots__ = ("started", "job")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    started: bool
    job: Job
    def __init__(self, started: _Optional[bool] = ..., job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UndrainRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RemoveRequest(_message.Message):
    __slots__ = ("force",)
    FORCE_FIELD_NUMBER: _ClassVar[int]
    force: bool
    def __init__(self, force: _Optional[bool] = ...) -> None: ...

class DrainReply(_message.Message):
    __slots__ = ("state", "changed", "job")
    STATE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    state: str
    changed: bool
    job: Job
    def __init__(self, state: _Optional[str] = ..., changed: _Optional[bool] = ..., job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InfoReply(_message.Message):
    __slots__ = ("id", "kind", "address", "admin_address", "metrics_url", "zone", "version", "uptime_seconds", "started", "state", "hostname", "pid", "restarts")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ADMIN_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    METRICS_URL_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: Kind
    address: str
    admin_address: str
    metrics_url: str
    zone: str
    version: str
    uptime_seconds: float
    started: float
    state: str
    hostname: str
    pid: int
    restarts: int
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[Kind, str]] = ..., address: _Optional[str] = ..., admin_address: _Optional[str] = ..., metrics_url: _Optional[str] = ..., zone: _Optional[str] = ..., version: _Optional[str] = ..., uptime_seconds: _Optional[float] = ..., started: _Optional[float] = ..., state: _Optional[str] = ..., hostname: _Optional[str] = ..., pid: _Optional[int] = ..., restarts: _Optional[int] = ...) -> None: ...

class UsageRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UsageReply(_message.Message):
    __slots__ = ("capacity_bytes", "used_bytes", "free_bytes", "objects", "bytes_stored", "buckets")
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    BYTES_STORED_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    capacity_bytes: int
    used_bytes: int
    free_bytes: int
    objects: int
    bytes_stored: int
    buckets: _containers.RepeatedCompositeFieldContainer[BucketUsage]
    def __init__(self, capacity_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., free_bytes: _Optional[int] = ..., objects: _Optional[int] = ..., bytes_stored: _Optional[int] = ..., buckets: _Optional[_Iterable[_Union[BucketUsage, _Mapping]]] = ...) -> None: ...

class BucketUsage(_message.Message):
    __slots__ = ("bucket", "objects", "bytes")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    objects: int
    bytes: int
    def __init__(self, bucket: _Optional[str] = ..., objects: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RequestCount(_message.Message):
    __slots__ = ("operation", "code", "count")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    operation: str
    code: str
    count: int
    def __init__(self, operation: _Optional[str] = ..., code: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class RpcErrorCount(_message.Message):
    __slots__ = ("node_id", "code", "count")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    code: str
    count: int
    def __init__(self, node_id: _Optional[str] = ..., code: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class StatsReply(_message.Message):
    __slots__ = ("requests", "requests_total", "errors_total", "client_errors_total", "bytes_in", "bytes_out", "uptime_seconds", "rpc_errors", "latency_bounds", "latency_counts")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ERRORS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ERRORS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_IN_FIELD_NUMBER: _ClassVar[int]
    BYTES_OUT_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RPC_ERRORS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BOUNDS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_COUNTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[RequestCount]
    requests_total: int
    errors_total: int
    client_errors_total: int
    bytes_in: int
    bytes_out: int
    uptime_seconds: float
    rpc_errors: _containers.RepeatedCompositeFieldContainer[RpcErrorCount]
    latency_bounds: _containers.RepeatedScalarFieldContainer[float]
    latency_counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, requests: _Optional[_Iterable[_Union[RequestCount, _Mapping]]] = ..., requests_total: _Optional[int] = ..., errors_total: _Optional[int] = ..., client_errors_total: _Optional[int] = ..., bytes_in: _Optional[int] = ..., bytes_out: _Optional[int] = ..., uptime_seconds: _Optional[float] = ..., rpc_errors: _Optional[_Iterable[_Union[RpcErrorCount, _Mapping]]] = ..., latency_bounds: _Optional[_Iterable[float]] = ..., latency_counts: _Optional[_Iterable[int]] = ...) -> None: ...

class PlacementRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PlacementNode(_message.Message):
    __slots__ = ("node_id", "address", "zone", "weight", "state", "live")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    address: str
    zone: str
    weight: float
    state: str
    live: bool
    def __init__(self, node_id: _Optional[str] = ..., address: _Optional[str] = ..., zone: _Optional[str] = ..., weight: _Optional[float] = ..., state: _Optional[str] = ..., live: _Optional[bool] = ...) -> None: ...

class PlacementReply(_message.Message):
    __slots__ = ("epoch", "nodes", "loaded")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    nodes: _containers.RepeatedCompositeFieldContainer[PlacementNode]
    loaded: bool
    def __init__(self, epoch: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[PlacementNode, _Mapping]]] = ..., loaded: _Optional[bool] = ...) -> None: ...

class ProgressRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Job(_message.Message):
    __slots__ = ("name", "state", "detail", "done", "total", "unit", "started", "updated", "measures", "errors", "last_errors")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    MEASURES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERRORS_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    detail: str
    done: int
    total: int
    unit: str
    started: float
    updated: float
    measures: _containers.RepeatedCompositeFieldContainer[Measure]
    errors: int
    last_errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ..., detail: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., unit: _Optional[str] = ..., started: _Optional[float] = ..., updated: _Optional[float] = ..., measures: _Optional[_Iterable[_Union[Measure, _Mapping]]] = ..., errors: _Optional[int] = ..., last_errors: _Optional[_Iterable[str]] = ...) -> None: ...

class Measure(_message.Message):
    __slots__ = ("unit", "done", "total")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    unit: str
    done: int
    total: int
    def __init__(self, unit: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class ProgressReply(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...
