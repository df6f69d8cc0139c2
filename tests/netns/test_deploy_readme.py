"""deploy/README.md, followed literally on three separate network hosts.

Network namespaces stand for the README's hosts (10.0.0.11-13, one bridge) and for the
operator's machine, which is also the S3 client (10.0.0.100). Every block of the README
marked `<!-- bed: WHERE -->` runs where it says: `operator` and `client` blocks in the
client namespace, `host` blocks on each host with HOST, IP and ZONE set, `host
service` blocks as each host's long-running services (what systemd would run). Only
paths move: /etc/tessera and /var/lib/tessera become folders of each host's own.

Then, with writers on both sides: a host cut off the network and healed, a host
powered off (every process SIGKILLed) and brought back, one etcd member lost. Nothing
acknowledged is lost, nothing is served stale after healing, the majority side keeps
serving, and every key gets back to three copies.

The namespaces need root (CI runs as root): without it the module is skipped, saying
why.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import ssl
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from coordinator import keys
from coordinator.members import DEFAULT_TTL as MEMBER_TTL
from tests.helpers import make_client
from tests.netns.bed import Bed, BedUnavailable, probe
from tools.cluster_plan import PROJECT_ROOT
from tools.cluster_processes import etcd_binary

README = PROJECT_ROOT / "deploy" / "README.md"
HOSTS = {
    "host1": ("10.0.0.11", "rack-a"),
    "host2": ("10.0.0.12", "rack-b"),
    "host3": ("10.0.0.13", "rack-c"),
}
CLIENT = "client"
BUCKET = "bed"
STEP = re.compile(r"<!-- bed: (operator|host|client)( service)? -->\s*```sh\n(.*?)```", re.S)


@dataclass
class Step:
    where: str
    service: bool
    script: str


def readme_steps(text: str) -> list[Step]:
    """The README's marked blocks, in order."""
    return [Step(where, bool(service), script) for where, service, script in STEP.findall(text)]


def test_the_readme_has_the_steps_the_bed_runs() -> None:
    """Runs everywhere (no root needed): the markers are where the bed expects them."""
    steps = readme_steps(README.read_text())
    assert [(s.where, s.service) for s in steps] == [
        ("operator", False),
        ("host", False),
        ("host", True),
        ("host", False),
        ("host", True),
        ("operator", False),
        ("client", False),
    ]
    assert steps[2].script.startswith("etcd ") and steps[4].script.startswith("tessera node ")


@dataclass
class Deployment:
    bed: Bed
    folder: Path  # the operator's folder (also where each host finds the copied files)
    env: dict[str, str]
    roots: dict[str, Path]
    services: list[Step]
    outputs: list[str]  # stdout of each operator and client step
    access_key: str
    secret_key: str

    @property
    def ca(self) -> Path:
        return self.folder / "tls" / "ca.crt"

    def host_env(self, host: str) -> dict[str, str]:
        address, zone = HOSTS[host]
        return {**self.env, "HOST": host, "IP": address, "ZONE": zone}

    def localize(self, host: str, script: str) -> str:
        root = self.roots[host]
        return script.replace("/etc/tessera", f"{root}/etc/tessera").replace(
            "/var/lib/tessera", f"{root}/var/lib/tessera"
        )

    def start_services(self, host: str) -> None:
        """Start the host's services as the README's service blocks do (a boot)."""
        for index, step in enumerate(self.services):
            script = self.localize(host, step.script.strip())
            log = self.roots[host] / f"service{index}.log"
            self.bed.start(host, script, self.host_env(host), self.folder, log)
            wait_ready(self, [host], step)

    def client(self, host: str, pool: ThreadPoolExecutor) -> Callable[..., Any]:
        """call(fn) runs fn(s3) in the pool, with a boto3 client for the host's gateway."""
        address, _ = HOSTS[host]
        s3 = make_client(
            f"https://{address}:9000",
            self.access_key,
            self.secret_key,
            verify=str(self.ca),
            retries={"mode": "standard", "total_max_attempts": 3},
            connect_timeout=3,
            read_timeout=20,
        )
        return lambda fn: pool.submit(fn, s3)


def _get(url: str, ca: Path, cert: tuple[Path, Path] | None = None) -> int | None:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(*cert)
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_ready(deployment: Deployment, hosts: list[str], step: Step, timeout: float = 90) -> None:
    """Wait until what a service step started answers on every host."""
    pool = deployment.bed.threads(CLIENT, workers=1)
    tls = deployment.folder / "tls"
    for host in hosts:
        address, _ = HOSTS[host]
        if step.script.startswith("etcd "):
            url = f"https://{address}:2379/health"
            cert: tuple[Path, Path] | None = (tls / "operator.crt", tls / "operator.key")
        else:
            url, cert = f"https://{address}:9000/readyz", None
        deadline = time.monotonic() + timeout
        while pool.submit(_get, url, deployment.ca, cert).result() != 200:
            assert time.monotonic() < deadline, f"{url} not ready in {timeout:.0f}s"
            time.sleep(0.3)


def _node_members(address: str, ca: Path, cert: tuple[Path, Path]) -> int | None:
    """How many storage nodes hold a membership lease, read from one etcd member over
    its JSON gateway (None when it cannot answer)."""
    prefix = keys.MEMBER_NODES.encode()
    end = prefix[:-1] + bytes([prefix[-1] + 1])
    body = json.dumps(
        {
            "key": base64.b64encode(prefix).decode(),
            "range_end": base64.b64encode(end).decode(),
            "count_only": True,
        }
    ).encode()
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(*cert)
    request = urllib.request.Request(f"https://{address}:2379/v3/kv/range", data=body)
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as reply:
            return int(json.loads(reply.read()).get("count", 0))
    except (OSError, ValueError):
        return None


def _wait_settled(deployment: Deployment, timeout: float = 90) -> None:
    """Wait until every etcd member is healthy and every storage node holds its lease
    again: the next fault then hits a cluster that recovered from the last one (etcd
    needs a moment to catch a healed member up)."""
    pool = deployment.bed.threads(CLIENT, workers=1)
    tls = deployment.folder / "tls"
    cert = (tls / "operator.crt", tls / "operator.key")
    deadline = time.monotonic() + timeout
    for address, _ in HOSTS.values():
        url = f"https://{address}:2379/health"
        while not (
            pool.submit(_get, url, deployment.ca, cert).result() == 200
            and pool.submit(_node_members, address, deployment.ca, cert).result() == len(HOSTS)
        ):
            assert time.monotonic() < deadline, f"{address} not settled in {timeout:.0f}s"
            time.sleep(0.3)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    try:
        probe()
    except BedUnavailable as exc:
        pytest.skip(f"no network namespaces here: {exc}")
    addresses = {name: address for name, (address, _) in HOSTS.items()}
    bed = Bed({**addresses, CLIENT: "10.0.0.100"}, f"t{os.getpid() % 100000}")
    base = tmp_path_factory.mktemp("bed")
    folder = base / "operator"
    folder.mkdir()
    (base / "home").mkdir()
    path = os.pathsep.join(
        [str(Path(sys.executable).parent), str(Path(etcd_binary()).parent), os.environ["PATH"]]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "AWS_"))}
    env.update(PATH=path, HOME=str(base / "home"), PYTHONUNBUFFERED="1")
    deployment = Deployment(
        bed, folder, env, {h: base / h for h in HOSTS}, [], [], access_key="", secret_key=""
    )
    try:
        for step in readme_steps(README.read_text()):
            _follow(deployment, step)
        exports = shlex.split((folder / "admin.env").read_text().removeprefix("export "))
        keys = dict(item.split("=", 1) for item in exports)
        deployment.access_key = keys["AWS_ACCESS_KEY_ID"]
        deployment.secret_key = keys["AWS_SECRET_ACCESS_KEY"]
        yield deployment
    finally:
        bed.close()


def _follow(deployment: Deployment, step: Step) -> None:
    """Do one README step where it says."""
    bed, folder = deployment.bed, deployment.folder
    if step.where in ("operator", "client"):
        done = bed.run(CLIENT, step.script, deployment.env, folder)
        assert done.returncode == 0, f"README step failed:\n{step.script}\n{done.stderr[-3000:]}"
        deployment.outputs.append(done.stdout)
        return
    if step.service:
        deployment.services.append(step)
        for host in HOSTS:
            script = deployment.localize(host, step.script.strip())
            log = deployment.roots[host] / f"service{len(deployment.services) - 1}.log"
            bed.start(host, script, deployment.host_env(host), folder, log)
        wait_ready(deployment, list(HOSTS), step)
        return
    for host in HOSTS:
        deployment.roots[host].mkdir(exist_ok=True)
        script = deployment.localize(host, step.script)
        done = bed.run(host, script, deployment.host_env(host), folder)
        assert done.returncode == 0, f"README step on {host} failed:\n{script}\n{done.stderr}"


def test_the_readme_deploys_a_working_cluster(deployment: Deployment) -> None:
    status, listing = deployment.outputs[-2], deployment.outputs[-1]
    assert "3 up, 0 down" in status, status
    gateways = json.loads(listing[listing.index("{") :])["gateways"]
    assert sorted((g["endpoint"], g["node"], g["zone"]) for g in gateways) == [
        (f"https://{address}:9000", host, zone) for host, (address, zone) in HOSTS.items()
    ]


def _put_all(calls: list[Callable[..., Any]], bodies: dict[str, bytes]) -> None:
    """PUT every key, spread over the gateways; every PUT must be acknowledged."""
    futures = [
        calls[i % len(calls)](lambda s3, k=key, b=body: s3.put_object(Bucket=BUCKET, Key=k, Body=b))
        for i, (key, body) in enumerate(bodies.items())
    ]
    for future in futures:
        future.result()


def _check_all(calls: list[Callable[..., Any]], bodies: dict[str, bytes]) -> None:
    """Every gateway serves every key's newest acknowledged bytes."""
    for call in calls:
        futures = {
            key: call(lambda s3, k=key: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read())
            for key in bodies
        }
        stale = [key for key, future in futures.items() if future.result() != bodies[key]]
        assert not stale, f"stale or wrong bytes for {stale[:5]}"


def _wait_three_copies(deployment: Deployment, keys: list[str]) -> None:
    listing = deployment.folder / "keys.txt"
    listing.write_text("\n".join(keys))
    tls = deployment.folder / "tls"
    nodes = ",".join(f"{address}:7100" for address, _ in HOSTS.values())
    script = shlex.join(
        [
            sys.executable,
            "-m",
            "tests.netns.replicas",
            "--tls",
            str(tls / "ca.crt"),
            str(tls / "operator.crt"),
            str(tls / "operator.key"),
            "--nodes",
            nodes,
            "--bucket",
            BUCKET,
            "--keys",
            str(listing),
        ]
    )
    done = deployment.bed.run(CLIENT, script, deployment.env, PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert not result["short"], f"not back to 3 copies in {result['took']:.0f}s: {result['short']}"


def _body(key: str, generation: int) -> bytes:
    size = 50_000 if zlib.crc32(key.encode()) % 3 else 1_500_000  # inline and streamed
    return (f"{key}/{generation}/".encode() * (size // 16 + 1))[:size]


@pytest.fixture(scope="module")
def written(deployment: Deployment) -> dict[str, bytes]:
    """What the cluster acknowledged so far, key → newest bytes."""
    pool = deployment.bed.threads(CLIENT)
    call = deployment.client("host1", pool)
    call(lambda s3: s3.create_bucket(Bucket=BUCKET)).result()
    bodies = {f"before/{i}": _body(f"before/{i}", 1) for i in range(20)}
    _put_all([deployment.client(h, pool) for h in HOSTS], bodies)
    return bodies


def test_a_host_cut_off_and_healed(deployment: Deployment, written: dict[str, bytes]) -> None:
    bed = deployment.bed
    pool = bed.threads(CLIENT)
    majority = [deployment.client(h, pool) for h in ("host1", "host2")]
    inside = deployment.client("host3", bed.threads("host3"))  # a client on host3's side
    bed.cut("host3")
    cut_at = time.monotonic()
    try:
        # The cut-off side holds one replica and no etcd quorum: its writes must not be
        # acknowledged, and whatever is acknowledged must survive.
        attempts = {
            key: inside(lambda s3, k=key: s3.put_object(Bucket=BUCKET, Key=k, Body=_body(k, 1)))
            for key in (f"minority/{i}" for i in range(4))
        }
        changed = {key: _body(key, 2) for key in written}  # host3's copies go stale
        changed.update({f"cut/{i}": _body(f"cut/{i}", 1) for i in range(20)})
        _put_all(majority, changed)
        # Later, host3's membership lease has run out in etcd: the majority writes to
        # the two nodes it has, and still serves.
        time.sleep(max(0.0, cut_at + 2 * MEMBER_TTL - time.monotonic()))
        changed.update({f"cut-later/{i}": _body(f"cut-later/{i}", 1) for i in range(10)})
        _put_all(majority, changed)
        written.update(changed)
        _check_all(majority, written)
        acknowledged = []
        for key, future in attempts.items():
            try:
                future.result()
            except (ClientError, BotoCoreError):
                continue
            acknowledged.append(key)
    finally:
        bed.heal("host3")
    _wait_settled(deployment)
    written.update({key: _body(key, 1) for key in acknowledged})
    _check_all([deployment.client(h, pool) for h in HOSTS], written)
    _wait_three_copies(deployment, list(written))


def test_a_host_powered_off_and_back(deployment: Deployment, written: dict[str, bytes]) -> None:
    bed = deployment.bed
    pool = bed.threads(CLIENT)
    bed.power_off("host2")
    rest = [deployment.client(h, pool) for h in ("host1", "host3")]
    changed = {f"before/{i}": _body(f"before/{i}", 3) for i in range(10)}
    changed.update({f"off/{i}": _body(f"off/{i}", 1) for i in range(20)})
    _put_all(rest, changed)
    written.update(changed)
    _check_all(rest, written)
    deployment.start_services("host2")
    _wait_settled(deployment)
    _check_all([deployment.client("host2", pool)], written)
    _wait_three_copies(deployment, list(written))


def test_one_etcd_member_lost(deployment: Deployment, written: dict[str, bytes]) -> None:
    bed = deployment.bed
    pool = bed.threads(CLIENT)
    bed.kill("host1", 0)  # host1's etcd, the first service the README starts
    try:
        calls = [deployment.client(h, pool) for h in HOSTS]
        changed = {f"etcd/{i}": _body(f"etcd/{i}", 1) for i in range(12)}
        _put_all(calls, changed)
        written.update(changed)
        bucket = f"{BUCKET}-new"  # bucket records live in etcd: its majority still serves
        calls[0](lambda s3: s3.create_bucket(Bucket=bucket)).result()
        calls[1](lambda s3: s3.put_object(Bucket=bucket, Key="k", Body=b"v")).result()
        assert calls[2](lambda s3: s3.get_object(Bucket=bucket, Key="k")["Body"].read()).result()
        _check_all(calls, written)
    finally:
        step = deployment.services[0]
        script = deployment.localize("host1", step.script.strip())
        log = deployment.roots["host1"] / "service0-again.log"
        bed.start("host1", script, deployment.host_env("host1"), deployment.folder, log)
        bed.hosts["host1"].services.insert(0, bed.hosts["host1"].services.pop())
    wait_ready(deployment, ["host1"], step)
