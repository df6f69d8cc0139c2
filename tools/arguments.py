"""Argument types the `tessera` commands share (argparse calls them with the flag's text).

argparse names a type in its error for text that is no number ("invalid count value: 'x'"),
so each is a function with a plain name.
"""

from __future__ import annotations

import argparse


def _at_least(text: str, minimum: int) -> int:
    value = int(text)
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {minimum} or more")
    return value


def count(text: str) -> int:
    """A whole number, 0 or more."""
    return _at_least(text, 0)


def positive(text: str) -> int:
    """A whole number, 1 or more."""
    return _at_least(text, 1)
