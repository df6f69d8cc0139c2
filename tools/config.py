"""Daemon settings resolve in one place: command-line flag, then environment
(`TESSERA_<FLAG>`, e.g. TESSERA_LISTEN), then the `[storage-node]` or
`[gateway]` table of a TOML file (`--config` or TESSERA_CONFIG), then the
default. deploy/tessera.toml documents every setting."""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import Any


def _env_name(dest: str) -> str:
    return "TESSERA_" + dest.upper()


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def _boolean(text: str, name: str) -> bool:
    """An on/off flag from the environment: TESSERA_TRUST_PROXY=false must mean off."""
    lowered = text.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise SystemExit(f"{name}: expected true or false, got {text!r}")


def file_settings(path: str | None, section: str) -> dict[str, Any]:
    """The table for one daemon from a TOML file, keys in flag spelling."""
    if not path:
        return {}
    with open(Path(path), "rb") as handle:
        document = tomllib.load(handle)
    table = document.get(section, {})
    if not isinstance(table, dict):
        raise SystemExit(f"{path}: [{section}] must be a table")
    return {key.replace("-", "_"): value for key, value in table.items()}


def apply(parser: argparse.ArgumentParser, argv: list[str], section: str) -> argparse.Namespace:
    """Parse argv with defaults taken from the environment and the TOML file."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=os.environ.get("TESSERA_CONFIG"))
    known, _ = pre.parse_known_args(argv)
    settings = file_settings(known.config, section)
    dests = {a.dest: a for a in parser._actions if a.dest not in ("help", argparse.SUPPRESS)}
    unknown = set(settings) - set(dests)
    if unknown:
        raise SystemExit(f"{known.config}: unknown settings in [{section}]: {sorted(unknown)}")
    defaults: dict[str, Any] = {}
    for dest, action in dests.items():
        value: Any = settings.get(dest)
        env = os.environ.get(_env_name(dest))
        if env is not None:
            value = env
        if value is None:
            continue
        if isinstance(value, str) and action.nargs == 0 and isinstance(action.const, bool):
            value = _boolean(value, _env_name(dest) if env is not None else dest)
        elif action.type is not None and isinstance(value, str):
            value = action.type(value)
        defaults[dest] = value
        action.required = False  # satisfied by the file or environment
    parser.set_defaults(**defaults)
    parser.add_argument("--config", default=known.config, help="TOML settings file")
    return parser.parse_args(argv)
