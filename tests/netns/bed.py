"""A test bed of separate network hosts on one machine: network namespaces joined by
veth pairs to a bridge that lives in a namespace of its own (the machine's own network
is never touched), with addresses from a private range that exist inside the
namespaces only. A host can be cut off (its bridge port down) and healed; commands run
inside a host with `ip netns exec`, and Python code can open sockets from inside one
through threads that entered it (`Bed.threads`)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNET = 0x40000000
PREFIX_LEN = 24


class BedUnavailable(Exception):
    """Namespaces cannot be made here (not root, no iproute2, no netns support)."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def probe() -> None:
    """BedUnavailable, saying why, unless a namespace can be made and removed here."""
    name = f"tessera-probe-{os.getpid()}"
    try:
        _ip("netns", "add", name)
    except FileNotFoundError:
        raise BedUnavailable("the `ip` command (iproute2) is not installed") from None
    except RuntimeError as exc:
        raise BedUnavailable(f"cannot create a network namespace (needs root): {exc}") from None
    _ip("netns", "del", name)


def _enter(namespace: str) -> None:
    """Move the calling thread into a network namespace (sockets it opens live there)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace}")
    finally:
        os.close(fd)


@dataclass
class Host:
    name: str
    address: str
    namespace: str
    port: str  # its veth end on the bridge
    services: list[subprocess.Popen[bytes]] = field(default_factory=list)


class Bed:
    """Hosts on one bridge; `close()` kills every process started here and removes it all."""

    def __init__(self, hosts: Mapping[str, str], tag: str) -> None:
        """hosts: name → IPv4 address (all in one /24)."""
        probe()
        self.switch = f"{tag}-sw"
        self.hosts: dict[str, Host] = {}
        self._pools: list[ThreadPoolExecutor] = []
        _ip("netns", "add", self.switch)
        try:
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
            for index, (name, address) in enumerate(hosts.items()):
                self._add(Host(name, address, f"{tag}-{name}", f"p{index}"))
        except BaseException:
            self.close()
            raise

    def _add(self, host: Host) -> None:
        _ip("netns", "add", host.namespace)
        self.hosts[host.name] = host
        peer = f"{host.port}-peer"
        _ip("-n", self.switch, "link", "add", host.port, "type", "veth", "peer", "name", peer)
        _ip("-n", self.switch, "link", "set", peer, "netns", host.namespace)
        _ip("-n", self.switch, "link", "set", host.port, "master", "br0", "up")
        _ip("-n", host.namespace, "link", "set", "lo", "up")
        _ip("-n", host.namespace, "link", "set", peer, "name", "eth0")
        _ip("-n", host.namespace, "addr", "add", f"{host.address}/{PREFIX_LEN}", "dev", "eth0")
        _ip("-n", host.namespace, "link", "set", "eth0", "up")

    def cut(self, name: str) -> None:
        """Cut the host off the network (its bridge port goes down)."""
        _ip("-n", self.switch, "link", "set", self.hosts[name].port, "down")

    def heal(self, name: str) -> None:
        _ip("-n", self.switch, "link", "set", self.hosts[name].port, "up")

    def run(
        self, name: str, script: str, env: Mapping[str, str], cwd: Path, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run a bash script on the host; its output and status."""
        argv = ["ip", "netns", "exec", self.hosts[name].namespace, "bash", "-euo", "pipefail"]
        return subprocess.run(
            [*argv, "-c", script],
            env=dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, name: str, command: str, env: Mapping[str, str], cwd: Path, log: Path) -> int:
        """Start a long-running command on the host (its own process group); its PID."""
        argv = ["ip", "netns", "exec", self.hosts[name].namespace, "bash", "-c", f"exec {command}"]
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv,
                env=dict(env),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.hosts[name].services.append(proc)
        return proc.pid

    def power_off(self, name: str) -> None:
        """Kill every process started on the host, with SIGKILL, as a power cut would."""
        host = self.hosts[name]
        for proc in host.services:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
        host.services.clear()

    def kill(self, name: str, index: int) -> None:
        """SIGKILL one service of the host (in start order) and what it started."""
        proc = self.hosts[name].services.pop(index)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def threads(self, name: str, workers: int = 8) -> ThreadPoolExecutor:
        """Threads inside the host's namespace: sockets they open are the host's."""
        pool = ThreadPoolExecutor(
            workers, initializer=_enter, initargs=(self.hosts[name].namespace,)
        )
        self._pools.append(pool)
        return pool

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for name in list(self.hosts):
            self.power_off(name)
        for host in self.hosts.values():
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.switch], capture_output=True)
