"""The sync period as a grouping and join key, written once for the frames, tables and claims.

A method without a sync period has NaN there, and NaN equals nothing, itself included: pandas drops NaN groups, and
a tuple key holding NaN never finds its row. So the period is grouped and joined by :func:`period_key` (NaN ->
:data:`NO_PERIOD`) and a table states it again by :func:`period_of_key` (:data:`NO_PERIOD` -> NaN).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

NO_PERIOD = -1.0  # no sync period is ever negative


def period_key(period: Any) -> Any:
    """A sync period (a Series, or one value) with NaN as :data:`NO_PERIOD`."""
    if isinstance(period, pd.Series):
        return period.fillna(NO_PERIOD)
    return NO_PERIOD if pd.isna(period) else period


def period_of_key(key: Any) -> Any:
    """The sync period a key stands for (a Series, or one value): NaN for :data:`NO_PERIOD`."""
    if isinstance(key, pd.Series):
        return key.where(key != NO_PERIOD)
    return math.nan if key == NO_PERIOD else key
