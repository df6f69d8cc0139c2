"""The `tessera` command: daemons, local cluster and bench behind one argparse front.

Subcommands import their modules only when chosen, so `tessera --help` and
`tessera cluster status` stay fast and work while a daemon module is broken.
Logging is configured here, once per process, for every subcommand.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")

# Daemons get their flags from their own module's add_arguments: (module, help).
DAEMONS = {
    "storage-node": ("storage_node.main", "run a storage node (gRPC daemon over local disks)"),
    "gateway": ("gateway.main", "run an S3 gateway (HTTP front)"),
    "node": (
        "tools.host_node",
        "run this host's storage node and gateway, each its own process, from one config",
    ),
}

# --- logging -------------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_RECORD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
# Chatty libraries stay at WARNING unless asked for something quieter.
_NOISY = ("botocore", "boto3", "urllib3", "s3transfer", "hpack", "grpc", "asyncio")


class _Timestamps:
    """`2025-01-02T03:04:05.678Z` for a record; the part up to the second is formatted once
    a second (a busy gateway logs a line per request)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            when = datetime.fromtimestamp(second, tz=UTC)
            self._prefix = when.strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._prefix}.{int(record.msecs):03d}Z"


_timestamp = _Timestamps()


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and not k.startswith("_")
    }


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n\r\t\\'):
        return json.dumps(text)  # quoted, with newlines escaped: the line stays one line
    return text


class TextFormatter(logging.Formatter):
    """`2025-01-02T03:04:05.678Z INFO logger message key=value ...`, always one line."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().replace("\r", "\\r").replace("\n", "\\n")
        parts = [_timestamp(record), record.levelname, record.name, message]
        parts += [f"{k}={_logfmt_value(v)}" for k, v in _extras(record).items()]
        if record.exc_info:
            parts.append("exc=" + _logfmt_value(self.formatException(record.exc_info)))
        if record.stack_info:
            parts.append("stack=" + _logfmt_value(record.stack_info))
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, default=str)


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Send all logs to stderr, one line each. Level: argument, $TESSERA_LOG_LEVEL, INFO;
    format: argument, $TESSERA_LOG_FORMAT, text. Calling it again replaces the setup."""
    level_name = (level or os.environ.get("TESSERA_LOG_LEVEL") or "INFO").upper()
    numeric = logging.getLevelName(level_name)
    if not isinstance(numeric, int):
        numeric = logging.INFO  # a bad environment value must not stop a daemon
    fmt = (fmt or os.environ.get("TESSERA_LOG_FORMAT") or "text").lower()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.set_name("tessera")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "tessera"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    logging.captureWarnings(True)
    # The formatters print none of these; gathering them costs every record a stack walk
    # and several lookups (the logging module's documented optimisation).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(LOG_LEVELS)}")
    return text.upper()


def _add_logging_options(parser: argparse.ArgumentParser) -> None:
    # Own dest names: a daemon's add_arguments may define its own --log-level.
    parser.add_argument(
        "--log-level",
        dest="tessera_log_level",
        type=_log_level,
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING, ERROR (default: $TESSERA_LOG_LEVEL or INFO)",
    )
    parser.add_argument(
        "--log-format",
        dest="tessera_log_format",
        choices=LOG_FORMATS,
        help="text (key=value) or json lines (default: $TESSERA_LOG_FORMAT or text)",
    )


# --- commands ------------------------------------------------------------------------------


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tessera")
    except Exception:
        return "unknown"


# glibc's M_ARENA_MAX (malloc.h): mallopt's parameter number.
_M_ARENA_MAX = -8


def limit_malloc_arenas(count: int = 2) -> None:
    """Cap glibc's malloc arenas for this process, unless MALLOC_ARENA_MAX says otherwise.

    glibc gives threads that allocate at once arenas of their own, up to 8 per core. A
    daemon's gRPC and worker threads then leave freed 1 MiB chunk buffers spread over
    many arenas, and its resident memory grows far past what it holds: 16 parallel
    8 MiB parts grew a gateway by ~110 MiB with the default, ~70 MiB with two arenas.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_ARENA_MAX, count)
    except (OSError, AttributeError):  # not glibc (musl has no arenas to cap)
        pass


def _run_daemon(args: argparse.Namespace, extras: list[str]) -> int:
    """Parse the rest of the line with the daemon's own flags, then run it in the foreground."""
    limit_malloc_arenas()  # before the daemon starts any thread
    module_name, description = DAEMONS[args.command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"tessera {args.command}", description=description, conflict_handler="resolve"
    )
    _add_logging_options(parser)
    module.add_arguments(parser)
    from tools import config

    daemon_args = config.apply(parser, extras, args.command)
    if daemon_args.tessera_log_level or daemon_args.tessera_log_format:
        configure_logging(
            daemon_args.tessera_log_level or args.tessera_log_level,
            daemon_args.tessera_log_format or args.tessera_log_format,
        )
    return int(module.run(daemon_args) or 0)


def _tool(
    run: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace, list[str]], int]:
    """A tool's handler: main refuses extra arguments for it, so its run gets the parsed ones."""
    return lambda args, extras: run(args)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (daemon flags are added only once a daemon is chosen)."""
    from tools import (
        admin_cli,
        bench,
        bench_compare,
        bench_console,
        bench_erasure,
        bench_repair,
        bench_requests,
        bucket_cli,
        cert_cli,
        cluster,
        credentials_cli,
    )

    parser = argparse.ArgumentParser(
        prog="tessera", description="Tessera, a distributed S3-compatible object store."
    )
    parser.add_argument("--version", action="version", version=f"tessera {_version()}")
    _add_logging_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    handlers: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {}
    for name, (_module, help_text) in DAEMONS.items():
        # No options here: everything after the name goes to the daemon's own parser,
        # including -h, so its help lists the real flags.
        sub.add_parser(name, help=help_text, add_help=False)
        handlers[name] = _run_daemon

    # (name, module, help, description): each module has add_arguments(parser) and run(args);
    # no description: the first paragraph of the module's docstring.
    tools: tuple[tuple[str, ModuleType, str, str | None], ...] = (
        (
            "cluster",
            cluster,
            "run a whole cluster on this machine (up, down, status)",
            "A local cluster: etcd, storage nodes and gateways as processes.",
        ),
        (
            "credential",
            credentials_cli,
            "manage access keys (add, generate, list, show, disable, enable, delete)",
            "Access keys live in etcd, their secrets encrypted with the cluster key.",
        ),
        (
            "bucket",
            bucket_cli,
            "see buckets and set how each stores new objects (list, show, set-storage)",
            None,
        ),
        (
            "cert",
            cert_cli,
            "the cluster's certificate authority and host certificates (init, issue, list)",
            None,
        ),
        (
            "admin",
            admin_cli,
            "see and steer the cluster: status, nodes, gateways, placement, jobs, "
            "node drain|undrain|remove",
            "Ask every storage node and gateway (found in etcd) through its Admin "
            "service, authenticated with the cluster's admin token.",
        ),
        (
            "bench",
            bench,
            "measure PUT/GET/HEAD throughput and latency against an S3 endpoint",
            "Benchmark an S3 endpoint: large objects (MiB/s), small objects (ops/s).",
        ),
        (
            "bench-compare",
            bench_compare,
            "Tessera beside SeaweedFS (3 copies) on this machine: the same s5cmd workloads",
            None,
        ),
        (
            "bench-console",
            bench_console,
            "the web console's load time, API latencies and the CPU an open page costs",
            None,
        ),
        (
            "bench-erasure",
            bench_erasure,
            "a replica bucket beside an erasure-coded one: MiB/s, CPU, degraded reads, disk",
            None,
        ),
        (
            "bench-requests",
            bench_requests,
            "server CPU per small request (PUT, GET, HEAD, LIST) of the local cluster",
            None,
        ),
        (
            "bench-repair",
            bench_repair,
            "time to full redundancy after a storage node was down under load",
            None,
        ),
    )
    for name, module, help_text, description in tools:
        if description is None:
            description = (module.__doc__ or "").split("\n\n")[0]
        module.add_arguments(sub.add_parser(name, help=help_text, description=description))
        handlers[name] = _tool(module.run)

    parser.set_defaults(handlers=handlers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tessera` console script."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras and args.command not in DAEMONS:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    configure_logging(args.tessera_log_level, args.tessera_log_format)
    from tools.cluster import ClusterError

    try:
        return args.handlers[args.command](args, extras)
    except ClusterError as exc:
        print(f"tessera: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
