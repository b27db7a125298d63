"""Working days from the Chinese calendar."""

import pandas as pd

from emc.mv.calendar import workdays


def test_more_than_a_thousand_distinct_days() -> None:
    """Five years of daily data (1,826 distinct days) must not recurse forever."""
    days = pd.date_range("2019-01-01", "2023-12-31", freq="D")
    flags, _ = workdays(days, "cn")
    assert len(flags) == len(days) and not flags[0]  # New Year's Day
