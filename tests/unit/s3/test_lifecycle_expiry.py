"""When a lifecycle rule expires a current version (x-amz-expiration): Days rounded up to
the next midnight UTC, a Date as given, the earliest matching Enabled rule."""

import datetime as dt

from gateway.s3 import lifecycle

WRITTEN = dt.datetime(2026, 3, 1, 15, 30, tzinfo=dt.UTC).timestamp()


def _rule(rule_id: str, expiration: dict, **filters) -> dict:
    return {"id": rule_id, "status": "Enabled", "filter": filters, "expiration": expiration}


def test_days_round_up_to_midnight_and_the_earliest_rule_wins():
    rules = [
        _rule("week", {"days": 7}),
        _rule("two", {"days": 2}, prefix="logs/"),
        {**_rule("off", {"days": 1}), "status": "Disabled"},
    ]
    assert lifecycle.expiration_header(rules, "logs/a", 10, {}, WRITTEN) == {
        "x-amz-expiration": 'expiry-date="Wed, 04 Mar 2026 00:00:00 GMT", rule-id="two"'
    }
    when, rule_id = lifecycle.expiry(rules, "data/a", 10, {}, WRITTEN) or (None, None)
    assert (when, rule_id) == (dt.datetime(2026, 3, 9, tzinfo=dt.UTC), "week")


def test_filters_and_dates():
    rules = [
        _rule("big", {"date": "2027-01-01T00:00:00Z"}, gt=100),
        _rule("tagged", {"days": 1}, tags=[["class", "tmp"]]),
    ]
    assert lifecycle.expiry(rules, "k", 50, {}, WRITTEN) is None
    assert lifecycle.expiry(rules, "k", 500, {}, WRITTEN) == (
        dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
        "big",
    )
    assert lifecycle.expiry(rules, "k", 50, {"class": "tmp"}, WRITTEN) == (
        dt.datetime(2026, 3, 3, tzinfo=dt.UTC),
        "tagged",
    )
    assert lifecycle.expiration_header([], "k", 1, {}, WRITTEN) == {}
