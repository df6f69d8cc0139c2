"""The pure parts of `tessera credential rotate|stats|show` and the gateway's
--usage-interval setting. Nothing here touches etcd."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from tools import config, credential_stats, credentials_cli

T0 = 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("90", 90),
        ("90s", 90),
        ("30m", 1800),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("7d", 7 * 86400),
        ("2w", 14 * 86400),
        (" 2H ", 7200),
        ("1d 12h", 129600),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert credentials_cli.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-1h", "1x", "1h-", "one hour", "1..5s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        credentials_cli.parse_duration(text)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    credentials_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_rotate_and_stats_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("rotate", "AKID")
    assert (args.access_key, args.grace, args.json) == ("AKID", 86400, False)
    assert _parse("rotate", "AKID", "--grace", "2s", "--json").grace == 2
    assert _parse("rotate", "AKID", "--grace", "0").grace == 0
    with pytest.raises(SystemExit):
        _parse("rotate", "AKID", "--grace", "soon")
    assert "not a duration" in capsys.readouterr().err
    assert _parse("stats", "--json").json is True


def test_show_text_mentions_the_old_secret_only_while_valid() -> None:
    rec = {
        "access_key": "AKID",
        "enabled": True,
        "policy": "admin",
        "description": "",
        "created_at": T0,
        "rotated_at": T0 + 10,
        "previous_secret_enc": b"sealed",
        "previous_expires": T0 + 3600,
    }
    row = credentials_cli._public(rec, None, now=T0 + 20)
    assert row["previous_valid_until"] == "2023-11-14T23:13:20Z"
    text = credentials_cli._show_text(row)
    assert "Old secret      valid until 2023-11-14T23:13:20Z" in text
    assert "Rotated         2023-11-14T22:13:30Z" in text
    later = credentials_cli._public(rec, None, now=T0 + 3600)
    assert later["previous_valid_until"] is None
    assert "Old secret      -" in credentials_cli._show_text(later)


def _example() -> dict:
    records = [
        {"access_key": "ROOT", "enabled": True, "policy": "admin", "description": "root"},
        {
            "access_key": "APP",
            "enabled": True,
            "policy": "readwrite",
            "previous_secret_enc": b"sealed",
            "previous_expires": T0 + 600,
        },
        {"access_key": "IDLE", "enabled": False, "policy": "readonly"},
    ]
    cache = {"items": 3, "loaded_at": T0 - 20, "reloads": 2, "revision": 50, "healthy": True}
    reports = {
        "gw1": {
            "published": T0 - 3,
            "interval": 15.0,
            "keys": {
                "ROOT": {"requests": 10, "last_used": T0 - 30},
                "APP": {
                    "requests": 4,
                    "last_used": T0 - 5,
                    "previous_requests": 1,
                    "previous_last_used": T0 - 50,
                },
            },
            "cache": cache,
        },
        "gw2": {
            "published": T0 - 8,
            "interval": 15.0,
            "keys": {"ROOT": {"requests": 5, "last_used": T0 - 10}},
            "cache": {**cache, "items": 2, "revision": 40, "healthy": False, "error": "x"},
        },
        "gone": {"published": T0 - 4000, "keys": {"IDLE": {"requests": 1, "last_used": T0 - 5000}}},
    }
    live = {"gw1": {"address": "10.0.0.1:9000"}, "gw2": {}, "gw3": {}}
    return credential_stats.build(records, reports, live, 50, T0)


def test_stats_report() -> None:
    report = _example()
    assert report["credentials"] == {"total": 3, "enabled": 2, "disabled": 1, "rotating": 1}
    keys = {k["access_key"]: k for k in report["keys"]}
    assert keys["ROOT"]["requests"] == 15 and keys["ROOT"]["last_gateway"] == "gw2"
    assert keys["ROOT"]["last_used_seconds_ago"] == 10
    assert keys["ROOT"]["by_gateway"] == {
        "gw1": {"requests": 10, "last_used": "2023-11-14T22:12:50Z", "last_used_seconds_ago": 30},
        "gw2": {"requests": 5, "last_used": "2023-11-14T22:13:10Z", "last_used_seconds_ago": 10},
    }
    assert keys["APP"]["previous_valid_seconds"] == 600
    assert keys["APP"]["previous_requests"] == 1
    assert keys["IDLE"]["last_gateway"] == "gone" and keys["IDLE"]["enabled"] is False
    gateways = {g["id"]: g for g in report["gateways"]}
    # Live ones first, then stopped ones whose reports are still kept.
    assert [g["id"] for g in report["gateways"]] == ["gw1", "gw2", "gw3", "gone"]
    assert gateways["gw1"]["in_sync"] is True and gateways["gw1"]["watch_healthy"] is True
    assert gateways["gw1"]["credentials_loaded"] == 3 and gateways["gw1"]["requests"] == 14
    assert gateways["gw2"]["in_sync"] is False and gateways["gw2"]["watch_healthy"] is False
    assert gateways["gw3"]["reported"] is None and gateways["gone"]["live"] is False
    assert len(report["notes"]) == 4
    json.dumps(report)  # --json prints it as is


def test_stats_table() -> None:
    text = credential_stats.render(_example())
    lines = text.splitlines()
    assert lines[0] == "Credentials: 3 (2 enabled, 1 disabled), 1 with an old secret still valid"
    assert lines[1] == "Use as reported by 2 live gateway(s) and 1 stopped, every 15s"
    row = next(line for line in lines if line.strip().startswith("APP "))
    assert "4" in row and "5s ago" in row and "valid 10m 0s more, used 1x, last 50s ago" in row
    assert "never" not in text.split("Gateways")[0]  # every key here was used
    gw2 = next(line for line in lines if line.strip().startswith("gw2 "))
    assert "BROKEN" in gw2 and "BEHIND" in gw2
    assert "no report yet" in next(line for line in lines if line.strip().startswith("gw3 "))
    assert "stopped" in next(line for line in lines if line.strip().startswith("gone "))


def test_usage_interval_from_the_sample_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import main as gateway_main

    monkeypatch.delenv("TESSERA_USAGE_INTERVAL", raising=False)
    sample = Path(__file__).resolve().parents[2] / "deploy" / "tessera.toml"

    def parse(argv: list[str]) -> argparse.Namespace:
        parser = argparse.ArgumentParser()
        gateway_main.add_arguments(parser)
        return config.apply(parser, argv, "gateway")

    assert gateway_main.positive_seconds(parse(["--config", str(sample)]).usage_interval) == 15
    assert parse([]).usage_interval == 15
    monkeypatch.setenv("TESSERA_USAGE_INTERVAL", "0.5")
    assert parse(["--config", str(sample)]).usage_interval == 0.5
    assert parse(["--usage-interval", "2"]).usage_interval == 2
    for bad in ("0", "-1", "soon"):
        with pytest.raises(argparse.ArgumentTypeError):
            gateway_main.positive_seconds(bad)
