"""The one interval over seeds that verdicts and figures share."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_interval(values, confidence: float) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval of the mean over seeds, ignoring NaN.

    Returns (mean, low, high); the bounds are NaN with fewer than two values, since one seed
    says nothing about the spread.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    mean = float(values.mean()) if len(values) else math.nan
    if len(values) < 2:
        return mean, math.nan, math.nan
    spread = stats.sem(values)
    if spread == 0:  # identical values: scipy refuses a zero scale, and the interval is the point
        return mean, mean, mean
    low, high = stats.t.interval(confidence, len(values) - 1, loc=mean, scale=spread)
    return mean, float(low), float(high)
