"""The field rules (checks.py): numbers, thresholds and indices, one message each."""

import math

import pytest

from wakeword.checks import check_number, check_threshold, decimal_index
from wakeword.errors import ConfigError


def test_check_number_names_the_range_and_rejects_bools():
    with pytest.raises(ConfigError, match="x must be between 1 and 4, got 5"):
        check_number(5, "x", 1, 4)
    with pytest.raises(ConfigError, match="x must be a number, got True"):
        check_number(True, "x", 0, 1)
    with pytest.raises(ConfigError, match="x must be a whole number, got 1.5"):
        check_number(1.5, "x", 0, 4, integer=True)
    assert check_number(None, "x", optional=True) is None


@pytest.mark.parametrize("text, index", [("17", 17), (" 3 ", 3), ("0", 0), ("²", None), ("١٧", None), ("", None),
                                         ("GPIO17", None), ("-1", None), (17, None)])
def test_only_ascii_digits_are_an_index(text, index):
    # str.isdigit() is true for "²", which int() then refused with a traceback
    assert decimal_index(text) == index


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1, math.nan, math.inf, "0.5", True])
def test_a_threshold_is_a_finite_number_strictly_between_0_and_1(value):
    with pytest.raises(ConfigError, match=r"^trigger\.threshold must be"):
        check_threshold(value, "trigger.threshold")
    assert check_threshold(0.5, "trigger.threshold") == 0.5
