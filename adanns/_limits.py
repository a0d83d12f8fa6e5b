"""The one table of parameter limits shared by the constructors and the file loader.

Every integer parameter an index stores in its file header is checked against the same range
when the index is built (``param``: ``ValueError``/``TypeError``) and when a file is loaded
(``field``: ``FormatError``), so an index that ``save`` writes is one that ``load`` reads.

Vector values are bounded in :func:`adanns._validation.check_values` (one check for every
``add`` / ``search`` / ``train``), ids in :func:`adanns._validation.as_ids`.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

from ._format import get_int
from ._validation import as_int

LIMITS: Dict[str, Tuple[int, int]] = {
    "dim": (1, 1 << 20),
    "nlist": (1, 1 << 31),
    "niter": (0, 1 << 20),
    "pq_niter": (1, 1 << 20),
    "opq_niter": (1, 1 << 20),
    "max_points_per_centroid": (0, 1 << 40),
    "max_train": (256, 1 << 48),
    "degree": (2, 1024),
    "build_beam": (1, 100_000),
    "sample": (1, 1 << 62),
}


def param(value: Any, name: str) -> int:
    """A constructor argument within its file limits (``ValueError`` / ``TypeError``)."""
    lo, hi = LIMITS[name]
    return as_int(value, name, lo, hi)


def field(header: Dict[str, Any], name: str) -> int:
    """A header field within the same limits (``FormatError``)."""
    lo, hi = LIMITS[name]
    return get_int(header, name, lo, hi)
