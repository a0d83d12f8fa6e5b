"""The one table of parameter limits shared by the constructors and the file loader.

Every integer parameter an index stores in its file header is checked against the same range
when the index is built (``param``: ``ValueError``/``TypeError``) and when a file is loaded
(``field``: ``FormatError``), so an index that ``save`` writes is one that ``load`` reads.

Vector values are bounded in :func:`adanns._validation.check_values` (one check for every
``add`` / ``search`` / ``train``), ids in :func:`adanns._validation.as_ids`.
"""

from __future__ import annotations

import functools
import os
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


@functools.lru_cache(maxsize=None)
def _physical_memory() -> int:
    """The machine's physical memory in bytes (read once: it does not change while we run)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 62


def memory_limit() -> int:
    """Bytes this process may allocate at most: the machine's physical memory, lowered by the
    soft RLIMIT_AS / RLIMIT_DATA limits where they are set (read at every call: they may change)."""
    limit = _physical_memory()
    try:
        import resource

        for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
            soft = resource.getrlimit(which)[0]
            if soft != resource.RLIM_INFINITY and soft > 0:
                limit = min(limit, int(soft))
    except (ImportError, ValueError, OSError):  # pragma: no cover - non-POSIX
        pass
    return limit


def check_memory(nbytes: int, what: str, hint: str = "") -> None:
    """Refuses up front (``MemoryError``) an allocation of more than half of :func:`memory_limit`,
    instead of being killed by the OS half-way."""
    if nbytes > memory_limit() // 2:
        raise MemoryError(f"{what} would need {nbytes / 2**30:.1f} GiB, more than half of this machine's memory "
                          f"(or of the process's RLIMIT_AS / RLIMIT_DATA){'; ' + hint if hint else ''}")


def check_lists_memory(nlist: int, coarse_dim: int, per_list_dims: int = 0) -> None:
    """An index of ``nlist`` lists holds, once trained, the centroids twice (plain and packed for
    the GEMM), ``per_list_dims`` more floats per list (PQ anchors) and a list header each."""
    check_memory(nlist * (8 * coarse_dim + 4 * per_list_dims + 64),
                 f"nlist={nlist} lists with {coarse_dim}-dim centroids", "use fewer lists or a shorter coarse_dim")
