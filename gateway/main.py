"""`tessera gateway`: serve S3 over HTTP/1.1 (gateway/http/) on trio."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from typing import Any

import trio

from coordinator import addresses, admin_token, certs, credentials, tls, usage
from coordinator.etcd import check_settings
from coordinator.secrets import Cipher, ClusterKeyError, load_key
from gateway import admin as gateway_admin
from gateway.app import create_app
from gateway.cluster.fragment_keeper import FragmentKeeper
from gateway.cluster.lifecycle_worker import LifecycleWorker
from gateway.cluster.reaper import UploadReaper
from gateway.console import session as console_session
from gateway.http.connection import RequestIdFilter
from gateway.http.server import HttpServer, open_listener
from gateway.s3.router import normalize_domain
from gateway.state import Gateway
from gateway.usage import UsagePublisher

log = logging.getLogger("tessera.gateway")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen", default="127.0.0.1:9000", help="S3 address HOST:PORT (HTTPS with TLS files)"
    )
    parser.add_argument("--etcd", default=None, help="etcd HOST:PORT (or TESSERA_ETCD)")
    parser.add_argument("--region", default=os.environ.get("TESSERA_REGION", "us-east-1"))
    parser.add_argument(
        "--advertise",
        default=None,
        help="HOST:PORT clients reach this gateway at, listed by /.well-known/tessera/gateways "
        "(default: --listen; a wildcard host becomes this machine's host name)",
    )
    parser.add_argument(
        "--local-node",
        default=None,
        metavar="NODE_ID",
        help="the storage node on this host (`tessera node` sets it): reads take their bytes "
        "from it when it holds the newest version",
    )
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    parser.add_argument("--gateway-id", default=None, help="name in membership (default: random)")
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--domain",
        action=_DomainsAction,
        type=domain_list,
        default=[],
        metavar="DOMAIN",
        help="serve virtual-hosted-style requests: Host <bucket>.DOMAIN names the bucket "
        "(repeatable or comma-separated)",
    )
    parser.add_argument(
        "--trust-proxy",
        action="store_true",
        help="behind a reverse proxy: X-Forwarded-Host is the host the client addressed",
    )
    parser.add_argument(
        "--no-console",
        action="store_true",
        help="serve no web console at /console (objects are then served without the "
        "sandbox that keeps them from acting in the console's origin)",
    )
    parser.add_argument(
        "--cluster-key-file",
        default=None,
        help="file holding the cluster key that encrypts credential secrets "
        "(or TESSERA_CLUSTER_KEY_FILE, or the key itself in TESSERA_CLUSTER_KEY); required",
    )
    parser.add_argument(
        "--admin-listen",
        default=None,
        help="Admin gRPC service on HOST:PORT (default: the --listen port + 1, and the next "
        "ports for --workers; 'off' serves none); its token derives from the cluster key",
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="serve plain HTTP although TESSERA_TLS_* name a certificate (behind a proxy "
        "that terminates TLS); without a certificate the gateway always serves HTTP",
    )
    parser.add_argument(
        "--usage-interval",
        type=positive_seconds,
        default=usage.DEFAULT_INTERVAL,
        metavar="SECONDS",
        help="publish requests per access key and the credential cache state to etcd this "
        f"often, for `tessera credential stats` (default {usage.DEFAULT_INTERVAL:g})",
    )


def positive_seconds(value: str | float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {value!r}")
    return seconds


def domain_list(value: str | list[str]) -> list[str]:
    """``'s3.a.com, S3.B.com:9000'`` (or a TOML list) -> ``['s3.a.com', 's3.b.com']``."""
    items = value.split(",") if isinstance(value, str) else value
    return [normalize_domain(item) for item in items if item.strip()]


class _DomainsAction(argparse.Action):
    """--domain accumulates; flags replace a default from the environment or the file."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        current = getattr(namespace, self.dest, None)
        if current is self.default or current is None:
            current = []
        setattr(namespace, self.dest, [*current, *values])


def _root_from_env() -> tuple[str, str] | None:
    access = os.environ.get("TESSERA_ROOT_ACCESS_KEY")
    secret = os.environ.get("TESSERA_ROOT_SECRET_KEY")
    if access and secret:
        return access, secret
    return None


async def _serve_rotated_certificate(files: tls.TlsFiles, https: ssl.SSLContext) -> None:
    """Give new HTTPS connections the certificate an operator put in place of the old
    (files.watch notices it)."""
    served = files.generation
    while True:
        await trio.sleep(tls.RELOAD_CHECK)
        if files.generation != served:
            served = files.generation
            await trio.to_thread.run_sync(files.material.load_into, https)  # writes files


def _cannot_start(exc: Exception) -> int:
    """Say why the gateway cannot start, in its log and on stderr; the exit status."""
    log.error("cannot start: %s", exc)
    print(f"tessera gateway: error: {exc}", file=sys.stderr)
    return 2


def _check_cluster_key(gateway: Gateway, cipher: Cipher) -> None:
    """Refuse to serve with a cluster key that decrypts none of the stored credentials:
    every request would fail with InvalidAccessKeyId, which hides the real mistake."""
    records = credentials.get_all(gateway.etcd)
    failed = []
    for rec in records:
        try:
            credentials.decrypt_secret(rec, cipher)
        except credentials.CredentialError:
            failed.append(rec.get("access_key", "?"))
    if records and len(failed) == len(records):
        raise credentials.CredentialError(
            f"none of the {len(records)} credential(s) in etcd decrypt with this cluster key "
            "(is it the cluster's key? see --cluster-key-file)"
        )
    if failed:
        log.error("credentials that do not decrypt with this cluster key: %s", ", ".join(failed))


# `--workers N`: how the parent watches its workers, and restarts one that exits.
WORKER_POLL = 0.25
WORKER_BACKOFF_FIRST = 0.5
WORKER_BACKOFF_MAX = 30.0
WORKER_STABLE_AFTER = 60.0


def run(args: argparse.Namespace) -> int:
    try:  # a TOML number skips the flag's type check
        args.usage_interval = positive_seconds(args.usage_interval)
    except argparse.ArgumentTypeError as exc:
        print(f"tessera gateway: error: usage-interval: {exc}", file=sys.stderr)
        return 2
    if args.workers > 1:
        return _run_workers(args)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
    try:
        cluster_key = load_key(args.cluster_key_file)
        cipher = Cipher(cluster_key)
        tls_files = tls.process_files()
        check_settings(args.etcd)
    except (ClusterKeyError, certs.CertError, ValueError) as exc:
        return _cannot_start(exc)
    https = None
    if tls_files is not None and not args.http:
        https = tls_files.material.https_context()
    gateway = Gateway(args.etcd, args.region, args.gateway_id, cipher=cipher)
    gateway.domains = tuple(dict.fromkeys(domain_list(args.domain)))
    gateway.trust_proxy = bool(args.trust_proxy)
    gateway.secure_transport = https is not None
    gateway.console_enabled = not args.no_console
    gateway.console_key = console_session.derive_key(cluster_key)
    gateway.admin_token = admin_token.derive(cluster_key)
    root = _root_from_env()
    try:
        if root:
            credentials.ensure_root(gateway.etcd, *root, cipher)
        credentials.migrate(gateway.etcd, cipher)
        _check_cluster_key(gateway, cipher)
    except credentials.CredentialError as exc:
        return _cannot_start(exc)
    reaper = UploadReaper(gateway)
    lifecycle = LifecycleWorker(gateway)
    keeper = FragmentKeeper(gateway)
    try:
        listener = open_listener(args.listen, reuse_port=args.reuse_port)
    except (OSError, ValueError) as exc:
        log.error("cannot start: listen %s: %s", args.listen, exc)
        print(f"tessera gateway: error: listen {args.listen}: {exc}", file=sys.stderr)
        return 2
    try:
        admin = gateway_admin.start(
            args, gateway, cluster_key, [reaper, lifecycle, keeper], https is not None
        )
    except OSError as exc:
        listener.close()
        return _cannot_start(exc)
    gateway.store.local_node = args.local_node
    address = args.advertise or addresses.advertised(args.listen)
    record = {
        **admin.record,
        "endpoint": f"{'https' if https else 'http'}://{address}",
        "node": args.local_node,
    }
    try:
        gateway.start(address, record)
    except BaseException:
        admin.stop()
        raise
    admin.start_view()
    publisher = UsagePublisher(gateway, args.usage_interval)
    server = HttpServer(create_app(gateway), listener, https=https)

    async def main() -> None:
        stop = trio.Event()

        async def on_signal() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    stop.set()
                    return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(on_signal)
            nursery.start_soon(reaper.run)
            nursery.start_soon(lifecycle.run)
            nursery.start_soon(keeper.run)
            nursery.start_soon(publisher.run)
            if https is not None and tls_files is not None:
                nursery.start_soon(_serve_rotated_certificate, tls_files, https)
            log.info(
                "gateway ready id=%s %s=%s admin=%s region=%s domains=%s trust_proxy=%s",
                gateway.gateway_id,
                "https" if https else "http",
                args.listen,
                admin.record.get("admin_address", "-"),
                args.region,
                ",".join(gateway.domains) or "-",
                gateway.trust_proxy,
            )
            await server.serve(stop)
            nursery.cancel_scope.cancel()

    # Startup leaves tens of thousands of long-lived objects (modules, protobuf
    # descriptors, caches); frozen, the collector stops walking them again and again.
    gc.freeze()
    try:
        trio.run(main)
    finally:
        admin.stop()
        publisher.publish_final()
        gateway.stop()
    return 0


def _run_workers(args: argparse.Namespace) -> int:
    """N single-worker processes sharing the port through SO_REUSEPORT."""
    argv = [
        sys.executable,
        "-m",
        "tools.cli",
        "gateway",
        "--listen",
        args.listen,
        "--region",
        args.region,
        "--reuse-port",
        "--usage-interval",
        str(args.usage_interval),
    ]
    if args.etcd:
        argv += ["--etcd", args.etcd]
    if args.domain:
        argv += ["--domain", ",".join(domain_list(args.domain))]
    if args.trust_proxy:
        argv.append("--trust-proxy")
    if args.no_console:
        argv.append("--no-console")
    if args.http:
        argv.append("--http")
    if args.advertise:
        argv += ["--advertise", args.advertise]
    if args.local_node:
        argv += ["--local-node", args.local_node]
    if args.cluster_key_file:
        argv += ["--cluster-key-file", args.cluster_key_file]
    workers_argv = []
    for index in range(args.workers):
        worker_argv = list(argv)
        if args.gateway_id:
            worker_argv += ["--gateway-id", f"{args.gateway_id}-w{index}"]
        # One Admin port per worker: each reports its own process.
        worker_admin = gateway_admin.admin_listen(args.listen, args.admin_listen, index)
        worker_argv += ["--admin-listen", worker_admin or "off"]
        workers_argv.append(worker_argv)
    children = [subprocess.Popen(worker_argv) for worker_argv in workers_argv]
    started = [time.monotonic()] * len(children)
    restarts = [0] * len(children)  # in all, reported by the worker (TESSERA_RESTARTS)
    failures = [0] * len(children)  # in a row, each within WORKER_STABLE_AFTER of its start
    due: dict[int, float] = {}
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # A worker that exits on its own is started again (the others keep the port served
    # meanwhile), after a delay that doubles while it keeps dying.
    while not stopping:
        time.sleep(WORKER_POLL)
        now = time.monotonic()
        for index, child in enumerate(children):
            if stopping or child.poll() is None:
                continue
            if index not in due:
                ran_long = now - started[index] >= WORKER_STABLE_AFTER
                failures[index] = 1 if ran_long else failures[index] + 1
                delay = min(WORKER_BACKOFF_MAX, WORKER_BACKOFF_FIRST * 2 ** (failures[index] - 1))
                due[index] = now + delay
                log.warning(
                    "gateway worker %d pid=%d exited with %s; restarting it in %.1fs",
                    index,
                    child.pid,
                    child.returncode,
                    delay,
                )
            elif now >= due[index]:
                del due[index]
                restarts[index] += 1
                env = {**os.environ, "TESSERA_RESTARTS": str(restarts[index])}
                children[index] = subprocess.Popen(workers_argv[index], env=env)
                started[index] = now
                log.warning("restarted gateway worker %d as pid=%d", index, children[index].pid)
    return max(child.wait() for child in children)
