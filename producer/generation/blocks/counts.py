"""Counts and simple variates from keyed 64-bit words, one value per word, vectorised.

Every variate maps row ``i`` of its inputs to row ``i`` of its output with element-wise operations
only, so a row's value depends on its own word(s) and parameters, never on the other rows: any
subset of entities gives the same values (shard-invariance). Words come from
:func:`producer.generation.streams.words`. :func:`expand_counts` then turns such counts into one
row per counted item, numbered within its parent so the numbers stay shard-invariant too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from producer.generation.streams import unit_floats

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

WEIGHT_TOLERANCE = 1e-9
"""How far from 1 the sum of categorical weights may be."""

EXACT_POISSON_MEAN = 256.0
"""Means up to this are drawn by exact inversion; larger ones by a corrected normal approximation."""


def validate_weights(weights: Sequence[float]) -> F64:
    """Check categorical weights and return them as an array.

    Args:
        weights: One probability per category.

    Returns:
        The weights as float64.

    Raises:
        ValueError: If there are none, any is negative or not finite, or they do not sum to 1
            within :data:`WEIGHT_TOLERANCE`.
    """
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("weights must be a non-empty sequence of numbers")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"weights must be finite and non-negative, got {list(array.tolist())}")
    total = float(array.sum())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ValueError(f"weights must sum to 1 (within {WEIGHT_TOLERANCE:g}), they sum to {total!r}")
    return array


def weighted_choice(raw: U64, weights: Sequence[float]) -> I64:
    """A category index per word, category ``k`` with probability ``weights[k]``.

    Inverts the cumulative weights at the word's uniform float (like fleet's event types), so a
    word always maps to the same category for the same weights. Zero-weight categories are never
    chosen, even at rounding edges.

    Args:
        raw: One 64-bit word per row.
        weights: Category probabilities; non-negative, summing to 1 within 1e-9.

    Returns:
        Category indices in ``[0, len(weights))``.

    Raises:
        ValueError: If the weights break the rules of :func:`validate_weights`.
    """
    array = validate_weights(weights)
    thresholds = np.cumsum(array)[:-1]
    chosen = np.searchsorted(thresholds, unit_floats(raw), side="right")
    last_positive = int(np.flatnonzero(array > 0)[-1])
    return np.minimum(chosen, last_positive).astype(np.int64)


def uniform_ints(raw: U64, low: I64 | int, high: I64 | int) -> I64:
    """Uniform integers in the inclusive range ``[low, high]`` per row (bounds broadcast).

    Uses the word modulo the span; the bias is below ``span / 2**64``, negligible for the spans used.

    Args:
        raw: One 64-bit word per row.
        low: Smallest value, scalar or one per row.
        high: Largest value (``>= low``), scalar or one per row.

    Returns:
        The integers, shaped like the broadcast inputs.

    Raises:
        ValueError: If any ``high < low``.
    """
    low_array = np.asarray(low, dtype=np.int64)
    high_array = np.asarray(high, dtype=np.int64)
    if np.any(high_array < low_array):
        raise ValueError("uniform_ints needs low <= high in every row")
    span = (high_array - low_array).astype(np.uint64) + np.uint64(1)
    return (low_array + (raw % span).astype(np.int64)).astype(np.int64)


def children_per_parent(raw: U64, parent_category: I64, ranges: Sequence[tuple[int, int]]) -> I64:
    """A child count per parent, uniform in the inclusive range of the parent's category.

    E.g. locations per account: ``ranges = [(1, 2), (3, 10), (10, 50), (50, 100)]`` for small,
    medium, large and enterprise accounts.

    Args:
        raw: One 64-bit word per parent.
        parent_category: Each parent's category index into ``ranges``.
        ranges: ``(low, high)`` per category, ``0 <= low <= high``.

    Returns:
        The child counts.

    Raises:
        ValueError: If a range is empty or negative, or a category has no range.
    """
    bounds = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
    if bounds.shape[0] == 0 or np.any(bounds[:, 0] < 0) or np.any(bounds[:, 1] < bounds[:, 0]):
        raise ValueError(f"ranges must be (low, high) pairs with 0 <= low <= high, got {list(ranges)}")
    if parent_category.size and (parent_category.min() < 0 or parent_category.max() >= bounds.shape[0]):
        raise ValueError(f"parent categories must lie in [0, {bounds.shape[0]}) to index the ranges")
    return uniform_ints(raw, bounds[parent_category, 0], bounds[parent_category, 1])


@lru_cache(maxsize=8)
def _log_factorials(count: int) -> F64:
    """``lgamma(k + 1)`` for ``k < count`` computed by :func:`math.lgamma`, as fleet's table does."""
    return np.array([math.lgamma(k + 1) for k in range(count)], dtype=np.float64)


def _inverse_normal(u: F64) -> F64:
    """Standard normal quantiles by Acklam's rational approximation (relative error < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)  # fmt: skip
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    u = np.clip(u, 1e-300, 1.0 - 1e-16)
    low = 0.02425
    q_tail = np.sqrt(-2.0 * np.log(np.where(u < 0.5, u, 1.0 - u)))
    tail = (((((c[0] * q_tail + c[1]) * q_tail + c[2]) * q_tail + c[3]) * q_tail + c[4]) * q_tail + c[5]) / (
        (((d[0] * q_tail + d[1]) * q_tail + d[2]) * q_tail + d[3]) * q_tail + 1.0
    )
    tail = np.where(u < 0.5, tail, -tail)
    q = u - 0.5
    r = q * q
    central = (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    )
    result: F64 = np.where((u < low) | (u > 1.0 - low), tail, central)
    return result


def poisson(raw: U64, means: F64) -> I64:
    """Poisson variates with a per-row mean, by inversion of each word's uniform float.

    Means up to :data:`EXACT_POISSON_MEAN` (256) are inverted exactly: the cumulative
    probabilities ``Σ exp(k·log m − m − lgamma(k+1))`` are accumulated term by term, vectorised over
    the rows (a loop over ``k``, never over rows), truncated at ``m + 12√m + 24`` like fleet's
    :func:`~producer.generation.scenarios.fleet.generate.poisson_counts`, whose results this
    reproduces bit for bit when the means are equal (same terms, same order of summation). Larger
    means use a normal approximation with a Cornish–Fisher skewness term and continuity
    correction, ``floor(m + √m·z + (z² − 1)/6 + 1/2)`` clipped at 0, whose probabilities are off by
    well under 0.1 % there. Means of 0 give 0.

    Args:
        raw: One 64-bit word per row.
        means: The Poisson mean per row (non-negative, finite), broadcast against ``raw``.

    Returns:
        The counts.

    Raises:
        ValueError: If a mean is negative or not finite.
    """
    raw_b, means_b = np.broadcast_arrays(raw, np.asarray(means, dtype=np.float64))
    means_f: F64 = means_b.astype(np.float64).ravel()
    if means_f.size and (not np.all(np.isfinite(means_f)) or means_f.min() < 0):
        raise ValueError("Poisson means must be finite and non-negative")
    u = unit_floats(raw_b.astype(np.uint64).ravel())
    counts = np.zeros(means_f.size, dtype=np.int64)

    large = means_f > EXACT_POISSON_MEAN
    if np.any(large):
        mean_large = means_f[large]
        z = _inverse_normal(u[large])
        approx = np.floor(mean_large + np.sqrt(mean_large) * z + (z * z - 1.0) / 6.0 + 0.5)
        counts[large] = np.maximum(approx, 0.0).astype(np.int64)

    exact = np.flatnonzero((means_f > 0) & ~large)
    if exact.size:
        _exact_inversion(u[exact], means_f[exact], exact, counts)
    return counts.reshape(raw_b.shape)


def _exact_inversion(u: F64, means: F64, rows: I64, counts: I64) -> None:
    """Write ``#{k <= last : cdf_k <= u}`` (capped at ``last``) into ``counts[rows]``."""
    log_means = np.array([math.log(mean) for mean in means.tolist()], dtype=np.float64)
    lasts = (means + 12.0 * np.sqrt(means) + 24.0).astype(np.int64)
    log_factorials = _log_factorials(int(lasts.max()) + 1)
    cdf = np.zeros(means.size, dtype=np.float64)
    found = np.zeros(means.size, dtype=np.int64)
    k = 0
    while rows.size:
        cdf = cdf + np.exp(float(k) * log_means - means - log_factorials[k])
        below_u = cdf <= u
        found += below_u
        # A row is done once its cdf passes u (it is non-decreasing) or its table would end.
        active = below_u & (k < lasts)
        if not np.all(active):
            counts[rows[~active]] = np.minimum(found[~active], lasts[~active])
            rows, u, means, log_means, lasts, cdf, found = (
                rows[active], u[active], means[active], log_means[active], lasts[active], cdf[active],
                found[active],
            )  # fmt: skip
        k += 1


def expand_counts(counts: I64) -> tuple[I64, I64]:
    """One ``(row, sequence)`` pair per counted item: row ``i`` repeated ``counts[i]`` times.

    ``sequence`` numbers a row's items ``0 … counts[i] − 1``, so an item's number (and the words
    drawn with it) depends only on its own row's count. E.g. counts ``[2, 0, 3]`` give rows
    ``[0, 0, 2, 2, 2]`` and sequences ``[0, 1, 0, 1, 2]``.

    Args:
        counts: A non-negative count per row (one-dimensional).

    Returns:
        The row index and the sequence within the row of each item, in row order.

    Raises:
        ValueError: If the counts are not one-dimensional or any is negative.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or (counts.size and counts.min() < 0):
        raise ValueError("expand_counts needs a one-dimensional array of non-negative counts")
    rows = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    sequence = np.arange(rows.size, dtype=np.int64) - first[rows]
    return rows, sequence


def normal(raw_a: U64, raw_b: U64, mean: F64 | float, std: F64 | float) -> F64:
    """Normal variates by Box–Muller from two words per row (the cosine branch only).

    Using one output per pair keeps row ``i`` a function of its own two words.

    Args:
        raw_a: First word per row (radius).
        raw_b: Second word per row (angle).
        mean: Mean, scalar or per row.
        std: Standard deviation (``>= 0``), scalar or per row.

    Returns:
        The variates.
    """
    radius = np.sqrt(-2.0 * np.log(1.0 - unit_floats(raw_a)))
    z = radius * np.cos(2.0 * math.pi * unit_floats(raw_b))
    result: F64 = np.asarray(mean, dtype=np.float64) + np.asarray(std, dtype=np.float64) * z
    return result


def clipped_normal(
    raw_a: U64, raw_b: U64, mean: F64 | float, std: F64 | float, low: F64 | float, high: F64 | float
) -> F64:
    """Normal variates clipped into ``[low, high]`` (clipping, not truncation: mass piles at the ends).

    Suits bounded quantities such as a pour volume or a health score where a few values at the
    bounds are realistic; use it with ``low``/``high`` a few standard deviations out.

    Args:
        raw_a: First word per row.
        raw_b: Second word per row.
        mean: Mean, scalar or per row.
        std: Standard deviation, scalar or per row.
        low: Lower bound, scalar or per row.
        high: Upper bound (``>= low``), scalar or per row.

    Returns:
        The clipped variates.

    Raises:
        ValueError: If any ``high < low``.
    """
    if np.any(np.asarray(high) < np.asarray(low)):
        raise ValueError("clipped_normal needs low <= high")
    result: F64 = np.clip(normal(raw_a, raw_b, mean, std), low, high)
    return result
