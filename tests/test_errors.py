"""rtsep.errors.one_line: every one-line error message is made by it."""

import pytest

from rtsep.errors import one_line


@pytest.mark.timeout(10)
def test_one_line_takes_the_first_line_bounded_and_names_an_empty_error():
    assert one_line(ValueError("  first\nsecond\n")) == "first"
    assert one_line(OSError("x" * 500)) == "x" * 200
    assert one_line(OSError("x" * 500), limit=10) == "x" * 10
    # str(exc).splitlines()[0] alone raises IndexError on these
    assert one_line(RuntimeError("")) == "RuntimeError"
    assert one_line(KeyError()) == "KeyError"
