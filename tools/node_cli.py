"""`tessera admin node drain|undrain|remove ID`: take a storage node out of the cluster.

  drain ID      no new writes go to the node, and it copies everything it holds to the
                keys' new replicas. Follows the copy with a progress bar (plain lines
                when the output is no terminal, or with --json) until it is done;
                --no-wait returns at once. Draining a node that already drains just
                follows it again.
  undrain ID    the node takes writes again; its drain stops.
  remove ID     the node leaves placement: nobody reads or lists it any more. Refused
                until its drain is done, unless --force (what only it holds is lost).

The changes are compare-and-swap transactions on etcd (coordinator/drain.py), so they
work from any machine that reaches etcd, whether the node is up or not; the node sees
its new state through its watch and does the moving (storage_node/mover.py), writing
its progress to etcd, where this command reads it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from coordinator.cluster_report import percent
from tools.credentials_cli import CliError
from tools.output import format_bytes, json_text

POLL = 0.5
# Plain progress lines at most this often (and on every change of state or pass).
LINE_EVERY = 2.0
BAR_WIDTH = 28


def add_arguments(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    text = "drain, undrain or remove a storage node"
    p_node = sub.add_parser("node", help=text, description=__doc__.split("\n\n")[0])
    actions = p_node.add_subparsers(dest="node_action", required=True, metavar="ACTION")
    p_drain = actions.add_parser(
        "drain",
        parents=[common],
        help="stop new writes to a node and move its data to the other nodes",
        description="Stop new writes to the node and move its data to the keys' new "
        "replicas; follow the progress until it is done.",
    )
    p_drain.add_argument("node_id", metavar="ID")
    p_drain.add_argument(
        "--no-wait", action="store_true", help="return at once instead of following progress"
    )
    p_undrain = actions.add_parser(
        "undrain",
        parents=[common],
        help="let a draining node take writes again",
        description="Put a draining node back to active; its data movement stops.",
    )
    p_undrain.add_argument("node_id", metavar="ID")
    p_remove = actions.add_parser(
        "remove",
        parents=[common],
        help="take a drained node out of placement",
        description="Take the node out of placement for good. Refused until its drain is "
        "done, unless --force.",
    )
    p_remove.add_argument("node_id", metavar="ID")
    p_remove.add_argument(
        "--force",
        action="store_true",
        help="remove even if its data has not all moved (what only it holds is lost)",
    )


# --- rendering (pure) ---------------------------------------------------------------------


def progress_text(record: Mapping[str, Any]) -> str:
    """'1,234 / 5,000 versions, 12 MiB / 40 MiB, 300 copied'"""
    versions = f"{record.get('versions_done') or 0:,} / {record.get('versions_total') or 0:,}"
    size = f"{format_bytes(record.get('bytes_done') or 0)} / {format_bytes(record.get('bytes_total') or 0)}"
    text = f"{versions} versions, {size}, {record.get('copied') or 0:,} copied"
    if record.get("errors"):
        text += f", {record['errors']:,} errors"
    return text


def bar_line(node_id: str, record: Mapping[str, Any], width: int = BAR_WIDTH) -> str:
    """One terminal line: `node4 [#########-----]  52%  1,234 / 2,345 versions, ... running`"""
    filled = round(width * percent(record) / 100)
    bar = "#" * filled + "-" * (width - filled)
    state = record["state"]
    if state == "running" and percent(record) == 100:
        state = "running: checking writes made meanwhile"
    return f"{node_id} [{bar}] {percent(record):3d}%  {progress_text(record)}  {state}"


def plain_line(node_id: str, record: Mapping[str, Any]) -> str:
    """A progress line for logs: `node4: running 52%: 1,234 / ... (pass 1: ...)`"""
    return f"{node_id}: {record['state']} {percent(record)}%: {progress_text(record)} ({record.get('detail') or ''})"


def summary(node_id: str, record: Mapping[str, Any], elapsed: float | None = None) -> str:
    """What a finished (or failed) drain did, for a person."""
    state = record["state"]
    counts = (
        f"{record.get('versions_done') or 0:,} versions of {record.get('keys_done') or 0:,} "
        f"keys ({format_bytes(record.get('bytes_done') or 0)}) checked; "
        f"{record.get('copied') or 0:,} copies made ({format_bytes(record.get('bytes_copied') or 0)}), "
        f"{record.get('present') or 0:,} already in place, "
        f"{record.get('skipped') or 0:,} versions skipped (parts of no upload, or gone)"
    )
    took = f" in {elapsed:.1f}s" if elapsed is not None else ""
    if state == "done":
        return (
            f"{node_id} is drained{took}: {counts}.\n"
            f"Every version it holds is on its replicas (placement epoch {record.get('epoch')}).\n"
            f"Take it out of placement with: tessera admin node remove {node_id}"
        )
    lines = [f"{node_id}: drain {state}{took}: {counts}."]
    if record.get("detail"):
        lines.append(f"  {record['detail']}")
    if record.get("errors"):
        lines.append(f"  {record['errors']:,} error(s), the latest:")
        lines += [f"    {e}" for e in record.get("last_errors") or []]
    return "\n".join(lines)


class Display:
    """Progress while following a drain: a bar redrawn in place on a terminal, else a
    plain line on each change of state or pass and at most every LINE_EVERY seconds."""

    def __init__(self, stream: TextIO, bar: bool) -> None:
        self.stream = stream
        self.bar = bar
        self._last_line = 0.0
        self._last_key: tuple[Any, ...] | None = None
        self._drawn = False

    def show(self, node_id: str, record: Mapping[str, Any]) -> None:
        if self.bar:
            self.stream.write("\r\x1b[K" + bar_line(node_id, record))
            self.stream.flush()
            self._drawn = True
            return
        key = (record["state"], record.get("passes"), record.get("detail"))
        now = time.monotonic()
        if key != self._last_key or now - self._last_line >= LINE_EVERY:
            print(plain_line(node_id, record), file=self.stream, flush=True)
            self._last_key, self._last_line = key, now

    def close(self) -> None:
        if self.bar and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


# --- following a drain --------------------------------------------------------------------


def follow(
    client: Any,
    node_id: str,
    display: Display,
    *,
    poll: float = POLL,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Show the drain's progress until it is done for the current placement epoch,
    failed or cancelled. Returns the last record. A job that had failed before this
    began is followed through the node's next try (it retries on its own)."""
    from coordinator import drain, placement

    warned_missing = False
    failed_before: str | None = None  # the run that had failed when we began
    first = True
    while True:
        job = drain.get(client, node_id)
        if job is None:
            if not warned_missing:
                print(f"{node_id}: no drain job yet", file=display.stream, flush=True)
                warned_missing = True
            sleep(poll)
            continue
        record = job.record
        display.show(node_id, record)
        if first and record["state"] == drain.FAILED:
            failed_before = f"{record['run']}/{record.get('passes')}"
        first = False
        if record["state"] == drain.CANCELLED:
            return record
        if record["state"] == drain.FAILED:
            if failed_before != f"{record['run']}/{record.get('passes')}":
                return record  # a try that failed while we watched
        if record["state"] == drain.DONE:
            epoch, _ = placement.load(client)
            if record.get("epoch") == epoch:
                return record
        sleep(poll)


# --- the commands -------------------------------------------------------------------------


def run(args: argparse.Namespace, client: Any) -> int:
    from coordinator import drain, members

    node_id = args.node_id
    action = args.node_action
    out = sys.stdout
    try:
        if action == "drain":
            return _drain(args, client, node_id)
        if action == "undrain":
            epoch = drain.undrain(client, node_id)
            data = {"node": node_id, "state": "active", "epoch": epoch}
            text = (
                f"{node_id} is active again (placement epoch {epoch}): it takes new writes, "
                "and its drain stopped. Copies already made stay where they are."
            )
        elif action == "remove":
            live = node_id in members.live_nodes(client)
            epoch = drain.remove(client, node_id, force=args.force)
            data = {
                "node": node_id,
                "state": "removed",
                "epoch": epoch,
                "forced": args.force,
                "live": live,
            }
            text = f"{node_id} is removed from placement (epoch {epoch}): nobody reads, lists or writes it any more."
            if live:
                text += "\nThe process still runs: stop it, then reuse or wipe its data directory."
        else:
            raise CliError(f"unknown node action {action}")
    except drain.DrainError as exc:
        raise CliError(str(exc)) from None
    print(json_text(data) if args.json else text, file=out)
    return 0


def _drain(args: argparse.Namespace, client: Any, node_id: str) -> int:
    from coordinator import drain, members, placement

    started, job = drain.drain(client, node_id)
    leased = members.live_nodes(client)
    live = node_id in leased
    notes = []
    if not live:
        notes.append(
            f"{node_id} is down (no membership lease): its data moves once it is back; "
            f"`tessera admin node remove {node_id} --force` gives up on it instead"
        )
    _, entries = placement.load(client)
    active = [e for e in entries if e.state == "active"]
    if len(active) < placement.DEFAULT_REPLICAS:
        notes.append(
            f"only {len(active)} active node(s) remain: keys keep {len(active)} copies, "
            f"not {placement.DEFAULT_REPLICAS}"
        )
    down = [e.node_id for e in active if e.node_id not in leased]
    if down:
        notes.append(
            f"{', '.join(down)} down: copies to {'it' if len(down) == 1 else 'them'} fail "
            "until back (the drain retries on its own)"
        )
    if not args.json:
        if started:
            print(f"{node_id} is draining: new writes go to the other nodes; it moves its data.")
        else:
            print(f"{node_id} was draining already: following its drain.")
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    if args.no_wait or not live:
        if args.json:
            data = {"node": node_id, "state": "draining", "started": started, "job": job.record}
            print(json_text(data))
        return 0
    stream = sys.stderr if args.json else sys.stdout
    display = Display(stream, bar=stream.isatty() and not args.json)
    began = time.monotonic()
    try:
        record = follow(client, node_id, display)
    except KeyboardInterrupt:
        display.close()
        print(
            f"\nstopped following; {node_id} keeps draining. "
            f"`tessera admin node drain {node_id}` follows it again.",
            file=sys.stderr,
        )
        return 130
    display.close()
    elapsed = time.monotonic() - began
    if args.json:
        data = {"node": node_id, "state": "draining", "started": started, "job": record}
        print(json_text(data))
    else:
        print(summary(node_id, record, elapsed))
    if record["state"] == drain.DONE:
        return 0
    if record["state"] == drain.FAILED:
        print(
            f"{node_id} retries on its own; `tessera admin node drain {node_id}` follows it "
            "again, `admin jobs` shows where it stands.",
            file=sys.stderr,
        )
    return 1
