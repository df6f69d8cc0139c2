"""`tessera bench-console`: how fast the web console is, and what an open page costs.

Against the local cluster (--data-dir), in headless Chromium (Playwright's Python package
driving /usr/bin/chromium, as the browser tests do; both come with `make test`'s tools):
the time until the sign-in form shows and the bytes it loaded, sign-in to the bucket list,
the Cluster page until its tables are drawn, then --samples fetches of each JSON API call and
of ListBuckets through /console/s3 (median and p90 ms, as the page's own fetch sees them),
and the CPU every cluster process spends in --seconds with the Cluster page open (it polls
metrics every 2 s and the report every 10 s) beside the same time with no page open.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tools import cluster as local
from tools.bench import server_cpu_seconds
from tools.bench_requests import process_groups
from tools.cluster_state import ClusterInfo
from tools.output import json_text, table

CALLS = (
    "/console/api/session",
    "/console/api/bucket-stats",
    "/console/api/metrics",
    "/console/api/cluster",
    "/console/api/credentials",
    "/console/s3/",
)
# Headless as root in a sandbox without a network: no sandbox, no GPU, and none of
# Chromium's own background connections (each would be refused, and slowly).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    """The distribution's Chromium (`make test` installs it: apt package chromium)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("Chromium is missing: `make test` installs it (apt package chromium)")
    return found


_TIMED_FETCHES = """async ([path, n]) => {
    const out = [];
    for (let i = 0; i < n; i++) {
        const t = performance.now();
        await (await fetch(path)).text();
        out.push(performance.now() - t);
    }
    return out;
}"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(local.default_data_dir()),
        help="the local cluster to measure (default: $TESSERA_DATA_DIR or ./.tessera)",
    )
    parser.add_argument("--samples", type=int, default=15, help="fetches per call (default 15)")
    parser.add_argument(
        "--seconds", type=float, default=60, help="CPU window, each way (default 60)"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")


def _cpu(info: ClusterInfo) -> float:
    return sum(server_cpu_seconds(pids) for pids in process_groups(info).values())


def _say(text: str) -> None:
    print(f"[bench-console] {text}", file=sys.stderr, flush=True)


def measure(info: ClusterInfo, samples: int, seconds: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    url = info.endpoints[0] + "/console"
    result: dict[str, Any] = {}
    _say(f"{seconds:g} s with no console open")
    before = _cpu(info)
    time.sleep(seconds)
    result["idle_cpu_seconds"] = round(_cpu(info) - before, 2)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        loaded: list[int] = []
        page.on("response", lambda r: loaded.append(int(r.headers.get("content-length") or 0)))
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("#access-key")
        result["sign_in_form_ms"] = round((time.perf_counter() - started) * 1000)
        result["sign_in_form_files"], result["sign_in_form_bytes"] = len(loaded), sum(loaded)
        page.fill("#access-key", info.access_key)
        page.fill("#secret-key", info.secret_key)
        started = time.perf_counter()
        page.click("#sign-in")
        page.wait_for_selector("#new-bucket-name")
        result["sign_in_to_buckets_ms"] = round((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        page.goto(url + "#/cluster")
        page.wait_for_selector("tr[data-node]")
        result["cluster_page_ms"] = round((time.perf_counter() - started) * 1000)
        result["calls"] = {}
        for path in CALLS:
            times = sorted(page.evaluate(_TIMED_FETCHES, [path, samples]))
            result["calls"][path] = {
                "median_ms": round(statistics.median(times), 1),
                "p90_ms": round(times[int(len(times) * 0.9)], 1),
            }
        _say(f"{seconds:g} s with the Cluster page open")
        before = _cpu(info)
        time.sleep(seconds)
        result["cluster_page_cpu_seconds"] = round(_cpu(info) - before, 2)
        browser.close()
    result["seconds"] = seconds
    return result


def render(result: dict[str, Any]) -> str:
    lines = [
        f"sign-in form: {result['sign_in_form_ms']} ms, {result['sign_in_form_files']} files, "
        f"{result['sign_in_form_bytes'] / 1024:.0f} KiB",
        f"sign-in to the bucket list: {result['sign_in_to_buckets_ms']} ms",
        f"Cluster page drawn: {result['cluster_page_ms']} ms",
        "",
        table(
            ["CALL", "MEDIAN MS", "P90 MS"],
            [
                [p, f"{c['median_ms']:.1f}", f"{c['p90_ms']:.1f}"]
                for p, c in result["calls"].items()
            ],
        ),
        "",
        f"cluster CPU in {result['seconds']:g} s: {result['idle_cpu_seconds']:.2f} s with no "
        f"console open, {result['cluster_page_cpu_seconds']:.2f} s with the Cluster page open",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        info = ClusterInfo.load(args.data_dir)
    except (OSError, ValueError, local.ClusterError) as exc:
        print(f"tessera bench-console: no local cluster in {args.data_dir}: {exc}", file=sys.stderr)
        return 2
    try:
        result = measure(info, max(1, args.samples), max(1.0, args.seconds))
    except (ImportError, RuntimeError) as exc:
        print(f"tessera bench-console: needs Playwright and Chromium: {exc}", file=sys.stderr)
        return 2
    print(json_text(result) if args.json else render(result))
    return 0
