"""tools/arguments.py: the argument types the `tessera` commands share."""

from __future__ import annotations

import argparse

import pytest

from tools import arguments


def test_count_and_positive_take_whole_numbers_from_their_minimum() -> None:
    assert arguments.count("0") == 0
    assert arguments.positive("1") == 1
    with pytest.raises(argparse.ArgumentTypeError, match="must be 0 or more"):
        arguments.count("-1")
    with pytest.raises(argparse.ArgumentTypeError, match="must be 1 or more"):
        arguments.positive("0")


def test_argparse_names_the_type_for_text_that_is_no_number(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="t")
    parser.add_argument("--nodes", type=arguments.count)
    with pytest.raises(SystemExit):
        parser.parse_args(["--nodes", "x"])
    assert "argument --nodes: invalid count value: 'x'" in capsys.readouterr().err
