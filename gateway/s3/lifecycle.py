"""Bucket lifecycle configuration (sans-IO): the rules of PutBucketLifecycleConfiguration,
checked as S3 checks them, kept in the bucket's record, and written back for
GetBucketLifecycleConfiguration.

A rule has an ID (made up when absent; at most 255 characters, unique), a Status
(Enabled or Disabled, exactly so spelled), what it applies to (a Filter with a Prefix, a
Tag, ObjectSizeGreaterThan/LessThan, or an And of them; or the older rule-level Prefix)
and at least one action: Expiration (Days, Date or ExpiredObjectDeleteMarker),
NoncurrentVersionExpiration (NoncurrentDays, NewerNoncurrentVersions) or
AbortIncompleteMultipartUpload (DaysAfterInitiation). Transitions to other storage
classes are not offered: there is one storage class.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import xml.etree.ElementTree as ET
from typing import Any

from gateway.s3.errors import S3Error
from gateway.s3.xmlcore import Doc, local_name

MAX_RULES = 1000
MAX_ID_LENGTH = 255


def _invalid(message: str) -> S3Error:
    return S3Error("InvalidArgument", message)


def _children(element: ET.Element) -> dict[str, list[ET.Element]]:
    found: dict[str, list[ET.Element]] = {}
    for child in element:
        found.setdefault(local_name(child.tag), []).append(child)
    return found


def _one(found: dict[str, list[ET.Element]], name: str) -> ET.Element | None:
    items = found.get(name, [])
    if len(items) > 1:
        raise S3Error("MalformedXML")
    return items[0] if items else None


def _text(element: ET.Element | None) -> str | None:
    return None if element is None else (element.text or "").strip()


def _positive(element: ET.Element | None, what: str) -> int | None:
    text = _text(element)
    if text is None:
        return None
    if not text.lstrip("-").isdigit():
        raise S3Error("MalformedXML")
    value = int(text)
    if value <= 0:
        raise _invalid(f"'{what}' must be a positive integer")
    return value


def parse(root: ET.Element) -> list[dict[str, Any]]:
    """The rules of a LifecycleConfiguration document, as stored in the bucket record."""
    if local_name(root.tag) != "LifecycleConfiguration":
        raise S3Error("MalformedXML")
    rules = [child for child in root if local_name(child.tag) == "Rule"]
    if not rules or len(rules) > MAX_RULES:
        raise S3Error("MalformedXML")
    parsed = [_rule(rule) for rule in rules]
    ids = [rule["id"] for rule in parsed]
    if len(set(ids)) != len(ids):
        raise _invalid("Rule ID must be unique. Found same ID for more than one rule")
    return parsed


def _rule(element: ET.Element) -> dict[str, Any]:
    found = _children(element)
    rule_id = _text(_one(found, "ID")) or secrets.token_hex(16)
    if len(rule_id) > MAX_ID_LENGTH:
        raise _invalid("ID length should not exceed allowed limit of 255")
    status = _text(_one(found, "Status"))
    if status not in ("Enabled", "Disabled"):
        raise S3Error("MalformedXML")
    rule: dict[str, Any] = {"id": rule_id, "status": status}
    legacy = _one(found, "Prefix")
    filter_element = _one(found, "Filter")
    if (legacy is None) == (filter_element is None):
        raise S3Error("MalformedXML")
    if legacy is not None:
        rule["prefix"] = _text(legacy)
    else:
        assert filter_element is not None
        rule["filter"] = _filter(filter_element)
    expiration = _one(found, "Expiration")
    if expiration is not None:
        rule["expiration"] = _expiration(expiration, rule.get("filter", {}))
    noncurrent = _one(found, "NoncurrentVersionExpiration")
    if noncurrent is not None:
        parts = _children(noncurrent)
        days = _positive(_one(parts, "NoncurrentDays"), "NoncurrentDays")
        if days is None:
            raise S3Error("MalformedXML")
        rule["noncurrent"] = {"days": days}
        newer = _positive(_one(parts, "NewerNoncurrentVersions"), "NewerNoncurrentVersions")
        if newer is not None:
            rule["noncurrent"]["newer"] = newer
    abort = _one(found, "AbortIncompleteMultipartUpload")
    if abort is not None:
        days = _positive(_one(_children(abort), "DaysAfterInitiation"), "DaysAfterInitiation")
        if days is None:
            raise S3Error("MalformedXML")
        if rule.get("filter", {}).get("tags"):
            raise _invalid("AbortIncompleteMultipartUpload cannot be specified with Tags.")
        rule["abort_days"] = days
    if found.get("Transition") or found.get("NoncurrentVersionTransition"):
        for transition in found.get("Transition", []):
            date = _text(_one(_children(transition), "Date"))
            if date is not None:
                _midnight(date)  # a malformed rule is refused as such, before the 501
        raise S3Error("NotImplemented", "Transitions to other storage classes are not supported")
    if not any(name in rule for name in ("expiration", "noncurrent", "abort_days")):
        raise _invalid("At least one action needs to be specified in a rule")
    return rule


def _filter(element: ET.Element) -> dict[str, Any]:
    found = _children(element)
    and_element = _one(found, "And")
    present = [name for name in found if name != "And"]
    if and_element is not None and present:
        raise S3Error("MalformedXML")
    if and_element is None and len(present) > 1:
        raise S3Error("MalformedXML")
    source = _children(and_element) if and_element is not None else found
    result: dict[str, Any] = {"and": and_element is not None}
    prefix = _one(source, "Prefix")
    if prefix is not None:
        result["prefix"] = _text(prefix)
    tags = []
    for tag in source.get("Tag", []):
        parts = _children(tag)
        key, value = _text(_one(parts, "Key")), _text(_one(parts, "Value"))
        if not key or value is None:
            raise S3Error("MalformedXML")
        tags.append([key, value])
    if len({k for k, _ in tags}) != len(tags):
        raise _invalid("Duplicate Tag Keys are not allowed.")
    if tags:
        result["tags"] = tags
    for name, field in (("ObjectSizeGreaterThan", "gt"), ("ObjectSizeLessThan", "lt")):
        text = _text(_one(source, name))
        if text is not None:
            if not text.isdigit():
                raise S3Error("MalformedXML")
            result[field] = int(text)
    if "gt" in result and "lt" in result and result["gt"] >= result["lt"]:
        raise _invalid("ObjectSizeGreaterThan must be less than ObjectSizeLessThan")
    return result


def _midnight(date: str) -> dt.datetime:
    """A rule's Date: an ISO 8601 date at midnight GMT, else InvalidArgument."""
    if not _DATE.fullmatch(date):
        raise _invalid("'Date' must be at midnight GMT")
    try:
        moment = dt.datetime.fromisoformat(date.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("'Date' must be at midnight GMT") from None
    if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
        raise _invalid("'Date' must be at midnight GMT")
    return moment


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?")


def _expiration(element: ET.Element, rule_filter: dict[str, Any]) -> dict[str, Any]:
    found = _children(element)
    days = _positive(_one(found, "Days"), "Days")
    date = _text(_one(found, "Date"))
    marker = _text(_one(found, "ExpiredObjectDeleteMarker"))
    if sum(x is not None for x in (days, date, marker)) != 1:
        raise S3Error("MalformedXML")
    if days is not None:
        return {"days": days}
    if date is not None:
        return {"date": _midnight(date).strftime("%Y-%m-%dT00:00:00Z")}
    if marker not in ("true", "false"):
        raise S3Error("MalformedXML")
    if rule_filter.get("tags"):
        raise _invalid("ExpiredObjectDeleteMarker cannot be specified with a Tag filter.")
    return {"delete_marker": marker == "true"}


def render(rules: list[dict[str, Any]]) -> bytes:
    """GetBucketLifecycleConfiguration: the stored rules as a LifecycleConfiguration."""
    doc = Doc()
    doc.open("LifecycleConfiguration", ns=True)
    for rule in rules:
        doc.open("Rule")
        doc.elem("ID", rule["id"])
        if "prefix" in rule:
            doc.elem("Prefix", rule["prefix"])
        else:
            _render_filter(doc, rule["filter"])
        doc.elem("Status", rule["status"])
        expiration = rule.get("expiration")
        if expiration is not None:
            doc.open("Expiration")
            if "days" in expiration:
                doc.elem("Days", expiration["days"])
            elif "date" in expiration:
                doc.elem("Date", expiration["date"])
            else:
                doc.elem("ExpiredObjectDeleteMarker", expiration["delete_marker"])
            doc.close("Expiration")
        noncurrent = rule.get("noncurrent")
        if noncurrent is not None:
            doc.open("NoncurrentVersionExpiration")
            doc.elem("NoncurrentDays", noncurrent["days"])
            if "newer" in noncurrent:
                doc.elem("NewerNoncurrentVersions", noncurrent["newer"])
            doc.close("NoncurrentVersionExpiration")
        if "abort_days" in rule:
            doc.open("AbortIncompleteMultipartUpload")
            doc.elem("DaysAfterInitiation", rule["abort_days"])
            doc.close("AbortIncompleteMultipartUpload")
        doc.close("Rule")
    doc.close("LifecycleConfiguration")
    return doc.to_bytes()


def _render_filter(doc: Doc, rule_filter: dict[str, Any]) -> None:
    doc.open("Filter")
    if rule_filter.get("and"):
        doc.open("And")
    if "prefix" in rule_filter:
        doc.elem("Prefix", rule_filter["prefix"])
    for key, value in rule_filter.get("tags", []):
        doc.open("Tag")
        doc.elem("Key", key)
        doc.elem("Value", value)
        doc.close("Tag")
    if "gt" in rule_filter:
        doc.elem("ObjectSizeGreaterThan", rule_filter["gt"])
    if "lt" in rule_filter:
        doc.elem("ObjectSizeLessThan", rule_filter["lt"])
    if rule_filter.get("and"):
        doc.close("And")
    doc.close("Filter")


# -- which rules take an object ------------------------------------------------------------


def prefix_of(rule: dict[str, Any]) -> str:
    """The key prefix a rule applies to ("" for every key)."""
    return rule.get("prefix") or rule.get("filter", {}).get("prefix") or ""


def needs_tags(rule: dict[str, Any]) -> bool:
    """Whether telling if the rule takes an object needs the object's tags."""
    return bool(rule.get("filter", {}).get("tags"))


def applies(rule: dict[str, Any], key: str, size: int, tags: dict[str, str]) -> bool:
    """Whether the rule's prefix, sizes and tags take this object (``tags`` is read only
    where :func:`needs_tags`)."""
    rule_filter = rule.get("filter", {})
    if not key.startswith(prefix_of(rule)):
        return False
    if "gt" in rule_filter and not size > rule_filter["gt"]:
        return False
    if "lt" in rule_filter and not size < rule_filter["lt"]:
        return False
    return all(tags.get(name) == value for name, value in rule_filter.get("tags", ()))


def expiry(
    rules: list[dict[str, Any]], key: str, size: int, tags: dict[str, str], written: float
) -> tuple[dt.datetime, str] | None:
    """When the current version written at ``written`` (epoch seconds) expires, and by
    which Enabled rule: S3 adds the rule's Days to the creation time and rounds up to the
    next midnight UTC, or takes its Date; the earliest rule wins. None when none expires it."""
    found: tuple[dt.datetime, str] | None = None
    for rule in rules:
        expiration = rule.get("expiration", {})
        if rule.get("status") != "Enabled" or not ("days" in expiration or "date" in expiration):
            continue
        if not applies(rule, key, size, tags):
            continue
        if "date" in expiration:
            when = dt.datetime.fromisoformat(expiration["date"].replace("Z", "+00:00"))
        else:
            moment = dt.datetime.fromtimestamp(written, dt.UTC) + dt.timedelta(
                days=expiration["days"]
            )
            when = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            if when < moment:
                when += dt.timedelta(days=1)
        if found is None or when < found[0]:
            found = (when, rule["id"])
    return found


def expiration_header(
    rules: list[dict[str, Any]], key: str, size: int, tags: dict[str, str], written: float
) -> dict[str, str]:
    """``x-amz-expiration`` for a PUT, GET or HEAD of a current version ({} when no rule
    expires it), as ``expiry-date="<HTTP date>", rule-id="<ID>"``."""
    if not rules:
        return {}
    found = expiry(rules, key, size, tags, written)
    if found is None:
        return {}
    when, rule_id = found
    stamp = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return {"x-amz-expiration": f'expiry-date="{stamp}", rule-id="{rule_id}"'}
