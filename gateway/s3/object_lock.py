"""Object lock (sans-IO): the bucket's ObjectLockConfiguration, a version's Retention
and LegalHold documents and headers, and the rule that says whether a version may go.

A bucket created with x-amz-bucket-object-lock-enabled keeps versions for good
(versioning cannot be suspended). Its versions may carry a retention (GOVERNANCE or
COMPLIANCE, until a date) and a legal hold (ON or OFF), given when written or later,
or from the bucket's default retention. A version under a legal hold, or retained
until a moment still to come, cannot be deleted by any path; GOVERNANCE yields to a
request that says x-amz-bypass-governance-retention: true. COMPLIANCE retention can be
lengthened, never shortened or taken off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from gateway.s3.errors import S3Error
from gateway.s3.xmlcore import Doc, local_name

MODES = ("GOVERNANCE", "COMPLIANCE")
BYPASS_HEADER = "x-amz-bypass-governance-retention"


def _children(element: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for child in element:
        found.setdefault(local_name(child.tag), []).append(child)
    return found


def _text(found: dict[str, list[Any]], name: str) -> str | None:
    items = found.get(name, [])
    if len(items) > 1:
        raise S3Error("MalformedXML")
    return (items[0].text or "").strip() if items else None


def parse_configuration(root: Any) -> dict[str, Any] | None:
    """PutObjectLockConfiguration: the default retention rule ({mode, days|years}), or
    None when the document sets none."""
    if local_name(root.tag) != "ObjectLockConfiguration":
        raise S3Error("MalformedXML")
    found = _children(root)
    if _text(found, "ObjectLockEnabled") != "Enabled":
        raise S3Error("MalformedXML")
    rules = found.get("Rule", [])
    if not rules:
        return None
    if len(rules) > 1:
        raise S3Error("MalformedXML")
    defaults = _children(rules[0]).get("DefaultRetention", [])
    if len(defaults) != 1:
        raise S3Error("MalformedXML")
    retention = _children(defaults[0])
    mode = _text(retention, "Mode")
    days, years = _text(retention, "Days"), _text(retention, "Years")
    if mode not in MODES or (days is None) == (years is None):
        raise S3Error("MalformedXML")
    period = days if days is not None else years
    assert period is not None
    if not period.lstrip("-").isdigit() or int(period) <= 0:
        raise S3Error("InvalidRetentionPeriod")
    return {"mode": mode, "days" if days is not None else "years": int(period)}


def render_configuration(rule: Mapping[str, Any] | None) -> bytes:
    doc = Doc()
    doc.open("ObjectLockConfiguration", ns=True)
    doc.elem("ObjectLockEnabled", "Enabled")
    if rule:
        doc.open("Rule")
        doc.open("DefaultRetention")
        doc.elem("Mode", rule["mode"])
        if "days" in rule:
            doc.elem("Days", rule["days"])
        else:
            doc.elem("Years", rule["years"])
        doc.close("DefaultRetention")
        doc.close("Rule")
    doc.close("ObjectLockConfiguration")
    return doc.to_bytes()


def _date(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise S3Error("InvalidArgument", "The retain until date is not a valid date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    """The form S3 writes a retain-until date in."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def parse_retention(root: Any, now: dt.datetime) -> tuple[str, str]:
    """PutObjectRetention: (mode, retain-until date in iso form)."""
    if local_name(root.tag) != "Retention":
        raise S3Error("MalformedXML")
    found = _children(root)
    mode, until = _text(found, "Mode"), _text(found, "RetainUntilDate")
    if mode not in MODES or not until:
        raise S3Error("MalformedXML")
    moment = _date(until)
    if moment <= now:
        raise S3Error("InvalidArgument", "The retain until date must be in the future!")
    return mode, iso(moment)


def render_retention(mode: str, until: str) -> bytes:
    doc = Doc()
    doc.open("Retention", ns=True)
    doc.elem("Mode", mode)
    doc.elem("RetainUntilDate", until)
    doc.close("Retention")
    return doc.to_bytes()


def parse_legal_hold(root: Any) -> bool:
    if local_name(root.tag) != "LegalHold":
        raise S3Error("MalformedXML")
    status = _text(_children(root), "Status")
    if status not in ("ON", "OFF"):
        raise S3Error("MalformedXML")
    return status == "ON"


def render_legal_hold(on: bool) -> bytes:
    doc = Doc()
    doc.open("LegalHold", ns=True)
    doc.elem("Status", "ON" if on else "OFF")
    doc.close("LegalHold")
    return doc.to_bytes()


def from_headers(
    headers: Mapping[str, str], rule: Mapping[str, Any] | None, now: dt.datetime
) -> tuple[str | None, str | None, bool]:
    """(mode, until, legal hold) a new version gets: its headers, else the bucket's
    default retention counted from now."""
    mode = headers.get("x-amz-object-lock-mode")
    until = headers.get("x-amz-object-lock-retain-until-date")
    hold = headers.get("x-amz-object-lock-legal-hold")
    if (mode is None) != (until is None):
        raise S3Error(
            "InvalidArgument",
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
        )
    if hold is not None and hold not in ("ON", "OFF"):
        raise S3Error("InvalidArgument", "Legal Hold must be either of 'ON' or 'OFF'")
    if mode is not None and until is not None:
        if mode not in MODES:
            raise S3Error("InvalidArgument", "Unknown wormMode directive.")
        moment = _date(until)
        if moment <= now:
            raise S3Error("InvalidArgument", "The retain until date must be in the future!")
        return mode, iso(moment), hold == "ON"
    if rule:
        span = dt.timedelta(days=rule["days"] if "days" in rule else 365 * rule["years"])
        return rule["mode"], iso(now + span), hold == "ON"
    return None, None, hold == "ON"


def asks_lock(headers: Mapping[str, str]) -> bool:
    """Whether a write names a retention or a legal hold."""
    return any(
        name in headers
        for name in (
            "x-amz-object-lock-mode",
            "x-amz-object-lock-retain-until-date",
            "x-amz-object-lock-legal-hold",
        )
    )


def retained(mode: str | None, until: str | None, now: dt.datetime) -> bool:
    return mode is not None and until is not None and _date(until) > now


def check_delete(
    mode: str | None, until: str | None, hold: bool, bypass: bool, now: dt.datetime
) -> None:
    """AccessDenied unless a version so locked may be deleted now."""
    if hold:
        raise S3Error("AccessDenied", "Access Denied because object protected by object lock.")
    if retained(mode, until, now) and not (mode == "GOVERNANCE" and bypass):
        raise S3Error("AccessDenied", "Access Denied because object protected by object lock.")


def check_change(
    old_mode: str | None,
    old_until: str | None,
    mode: str,
    until: str,
    bypass: bool,
    now: dt.datetime,
) -> None:
    """AccessDenied unless the retention may become (mode, until)."""
    if not retained(old_mode, old_until, now):
        return
    assert old_until is not None
    shorter = _date(until) < _date(old_until)
    if old_mode == "COMPLIANCE" and (mode != "COMPLIANCE" or shorter):
        raise S3Error("AccessDenied", "Access Denied because object protected by object lock.")
    if old_mode == "GOVERNANCE" and (shorter or mode != "GOVERNANCE") and not bypass:
        raise S3Error("AccessDenied", "Access Denied because object protected by object lock.")


def holds(mode: str | None, until: str | None, hold: bool, now: dt.datetime) -> bool:
    """Whether a version is locked now (under a legal hold or a running retention)."""
    return hold or retained(mode, until, now)
