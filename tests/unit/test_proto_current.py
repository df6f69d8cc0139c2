from proto import generate


def test_generated_stubs_are_current():
    assert generate.main(["--check"]) == 0, "run `make proto` and commit the stubs"
