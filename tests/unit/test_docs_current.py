from tools import compat


def test_compatibility_table_is_current():
    assert compat.main(["--check"]) == 0, "run `python -m tools.compat` and commit docs/"
