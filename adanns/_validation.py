"""Input checks shared by the public classes: clear Python exceptions, never a crash."""

from __future__ import annotations

import math
import operator
from typing import Any, Optional, Tuple

import numpy as np

METRICS = {"l2": 0, "ip": 1, "cosine": 2}
METRIC_NAMES = {v: k for k, v in METRICS.items()}


def metric_code(metric: str) -> int:
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, one of {sorted(METRICS)}; got {type(metric).__name__}")
    m = metric.lower()
    if m not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(METRICS)}")
    return METRICS[m]


C_INT_MAX = 2**31 - 1  # iteration counts (C int in the core)
INT64_MAX = 2**63 - 1  # every other integer crosses into the core as a 64-bit integer


def as_int(value: Any, name: str, lo: Optional[int] = None, hi: Optional[int] = None) -> int:
    """An integer parameter within [lo, hi] (bools rejected). Without ``hi`` the bound is
    2**63 - 1, so no value reaches the core outside its C range: out-of-range values raise a
    ValueError naming the parameter (never a binding's signature dump)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got a bool")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if lo is not None and v < lo:
        raise ValueError(f"{name} must be >= {lo}, got {v}")
    if v > (INT64_MAX if hi is None else hi):
        raise ValueError(f"{name} must be <= {INT64_MAX if hi is None else hi}, got {v}")
    return v


def as_matrix(x: Any, dim: int, name: str = "x", check_finite: bool = True) -> np.ndarray:
    """A C-contiguous float32 (n, dim) copy or view of x.

    float16 and float64 are converted; integer, bool, complex and object arrays raise TypeError.
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as e:  # ragged lists and the like
            raise TypeError(f"{name} must be a 2-D float array: {e}") from None
    if x.dtype.kind != "f":
        raise TypeError(
            f"{name} must hold floating-point values (float32, float16 or float64), got dtype {x.dtype}; "
            f"convert it with .astype(numpy.float32)"
        )
    if x.ndim != 2:
        hint = " (for one vector use x.reshape(1, -1))" if x.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D of shape (n, {dim}), got shape {x.shape}{hint}")
    if x.shape[1] != dim:
        raise ValueError(f"{name} has {x.shape[1]} dimensions, the index has {dim}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if check_finite and x.size:
        check_values(x, name)
    return x


_FLT_MAX = float(np.finfo(np.float32).max)


def max_abs_value(dim: int) -> float:
    """The bound on |x| for vectors of ``dim`` dims: a squared L2 distance sums ``dim`` terms of up
    to (2|x|)^2 in float32, so |x| < sqrt(FLT_MAX / (8 dim)) keeps every distance, norm and inner
    product finite (a factor 2 to spare for the GEMM form ||x||^2 + ||q||^2 - 2 x.q)."""
    return math.sqrt(_FLT_MAX / (8.0 * dim))


def check_values(x: np.ndarray, name: str) -> None:
    """Every entry of the float32 (n, dim) ``x`` finite and below :func:`max_abs_value` (in row
    blocks: no copy of a large input)."""
    n, dim = x.shape
    bound = max_abs_value(dim)
    safe = 0.25 * bound * bound  # a sum of squares under it: every |value| < bound / 2
    step = max(1, (1 << 20) // max(dim, 1))
    for b in range(0, n, step):
        blk = x[b : b + step]
        # The common case in one pass and no temporary: the block's sum of squares (a view of a
        # C-contiguous block; NaN and inf propagate, an overflow is inf, and they compare False).
        # 0.9 us for one 384-dim query where max() and min() took 3 us; anything else is checked
        # value by value below.
        if float(np.vdot(blk, blk)) < safe:
            continue
        top = np.abs(blk).max(axis=1)
        bad = ~(top < bound)  # NaN compares False
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            if not np.isfinite(blk[r]).all():
                raise ValueError(f"{name} contains NaN or infinite values (first in row {b + r})")
            raise ValueError(
                f"{name} has a value of magnitude {float(top[r]):.3g} in row {b + r}; with dim={dim} every |value| "
                f"must be < {bound:.3g} (sqrt(FLT_MAX / (8 * dim))) so that squared distances stay finite in float32"
            )


def update_input(x: Any, ids: Any, dim: int, trained: bool) -> Tuple[np.ndarray, np.ndarray]:
    """The checked ``(x, ids)`` of an ``update``: trained index, (n, dim) rows, n unique ids."""
    if not trained:
        raise RuntimeError("the index must be trained before update(); call train(x) first")
    x = as_matrix(x, dim, "x")
    id_arr = as_ids(ids, x.shape[0])
    if len(np.unique(id_arr)) != len(id_arr):
        raise ValueError("update() ids must be unique")
    return x, id_arr


def as_id_list(ids: Any) -> np.ndarray:
    """The ids of a removal: a scalar or an array of any shape, as a flat checked int64 array."""
    ids = np.asarray(ids).reshape(-1)
    return as_ids(ids, ids.size)


def as_ids(ids: Any, n: int) -> np.ndarray:
    """A C-contiguous int64 array of n non-negative ids."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ids must be an integer array, got dtype {ids.dtype}")
    if ids.ndim != 1 or ids.shape[0] != n:
        raise ValueError(f"ids must be 1-D with one id per vector ({n}), got shape {ids.shape}")
    if ids.dtype.kind == "u" and ids.size and ids.max() > MAX_ID:
        raise ValueError(f"ids must be <= {MAX_ID} (2**63 - 2: the next default id must fit in int64)")
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError("ids must be >= 0 (-1 marks a missing result)")
    if ids.size and ids.max() > MAX_ID:
        raise ValueError(f"ids must be <= {MAX_ID} (2**63 - 2: the next default id must fit in int64)")
    return ids


# The largest id: one below int64's maximum, so that the next default id (largest + 1) fits.
MAX_ID = 2**63 - 2


def default_ids(next_id: int, n: int) -> np.ndarray:
    """The ids ``next_id .. next_id + n - 1`` of an add without ids; ``ValueError`` past MAX_ID."""
    if next_id + n - 1 > MAX_ID:
        raise ValueError(f"the default ids {next_id}..{next_id + n - 1} would overflow: the largest id is {MAX_ID} "
                         f"(2**63 - 2); pass explicit ids")
    return np.arange(next_id, next_id + n, dtype=np.int64)


def check_options(values: "dict[str, Any]", limits: "dict[str, tuple]") -> None:
    """Command-line numbers within their ranges, checked before any work: ``limits`` maps an
    option name (``n_query``) to ``(lo, hi)`` (either may be None); unset options (None) pass."""
    for name, (lo, hi) in limits.items():
        v = values.get(name)
        if v is None:
            continue
        flag = "--" + name.replace("_", "-")
        if lo is not None and v < lo:
            raise ValueError(f"{flag} must be >= {lo}, got {v}")
        if hi is not None and v > hi:
            raise ValueError(f"{flag} must be <= {hi}, got {v}")
