"""Filtered search: the ids a search may return (``search(..., filter=...)``).

A filter is applied inside the scan of every index family: a row whose id the filter rejects is
never pushed into a query's shortlist, so the shortlist only ever holds allowed rows (a search at
exact settings returns the exact top-k of the allowed subset, never fewer results because
filtered-out rows took the places). Without a filter the scan is unchanged.

Accepted forms of ``filter``:

* an integer array of allowed ids (an allow-list; duplicates and ids not in the index are fine);
* a boolean array ``mask`` over ids: id ``i`` is allowed iff ``i < len(mask)`` and ``mask[i]``;
* an :class:`IDFilter`, built once from either form and reused across searches (the fast form:
  no conversion per call; for ids in ``0..n`` it is a bitmap of ``n / 8`` bytes).

Recall at approximate settings. The allowed nearest neighbours of a query lie farther away than
its unfiltered ones (at selectivity ``s`` the filtered k-th neighbour is about the unfiltered
``k / s``-th), so the lists probed (or the graph walk's pool) must widen for the same recall.
By default (``widen=True``) a filtered search raises ``nprobe`` (IVF, IVF-PQ) or ``beam`` (graph)
to the larger of ``setting / sqrt(s)`` and the number of lists (pool entries) that hold
``16 k`` allowed rows in expectation, ``16 k / (s * rows per list)``; with
``s = len(filter) / ntotal``, at most ``nlist`` (``ntotal``). How much widening a dataset
needs varies (measured for recall 0.95 at s = 1%: x2 on Gaussian data, x24 on tightly clustered
data), and the rule errs on the side of recall. ``IDFilter.from_ids(ids, widen=False)`` keeps the
given settings as they are (then raise ``nprobe`` / ``beam`` yourself). An allow-list full of ids
that are not in the index overstates ``s`` and so widens less.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

__all__ = ["IDFilter", "as_filter"]

# An allow-list becomes a bitmap when the bitmap is at most this many times the list's size.
_BITMAP_RATIO = 8


class IDFilter:
    """A set of allowed ids in the form the core checks during the scan.

    Build with :meth:`from_ids` (allow-list) or :meth:`from_mask` (boolean mask over ids).
    ``len(f)`` is the number of allowed ids.
    """

    __slots__ = ("_bits", "_ids", "_count", "widen")

    def __init__(self, *, bits: Optional[np.ndarray] = None, ids: Optional[np.ndarray] = None, count: int = 0,
                 widen: bool = True) -> None:
        if (bits is None) == (ids is None):
            raise ValueError("give exactly one of bits and ids")
        self._bits = bits
        self._ids = ids
        self._count = int(count)
        self.widen = bool(widen)

    def widened(self, setting: int, k: int, ntotal: int, units: int) -> int:
        """``setting`` (nprobe over ``units`` lists, or a graph beam with ``units = ntotal``)
        raised for this filter's selectivity when ``widen`` (see the module notes), at most ``units``."""
        if not self.widen or ntotal <= 0 or units <= 0:
            return setting
        sel = min(1.0, max(self._count, 1) / ntotal)
        if sel >= 1.0:
            return setting
        need = max(setting / np.sqrt(sel), 16.0 * k / (sel * ntotal / units))
        return int(min(units, max(setting, int(np.ceil(need)))))

    @classmethod
    def from_ids(cls, ids: Any, *, widen: bool = True) -> "IDFilter":
        """Allows exactly the given ids (any integer array-like; negative ids never match)."""
        a = np.asarray(ids)
        if a.dtype == np.bool_ or not (a.size == 0 or np.issubdtype(a.dtype, np.integer)):
            raise TypeError(f"filter ids must be integers, got dtype {a.dtype}")
        a = np.unique(a.reshape(-1).astype(np.int64, copy=False))
        a = a[a >= 0]
        if a.size == 0:
            return cls(ids=a, count=0, widen=widen)
        top = int(a[-1]) + 1
        if (top + 7) // 8 <= _BITMAP_RATIO * 8 * a.size:  # bitmap bytes vs list bytes
            mask = np.zeros(top, np.bool_)
            mask[a] = True
            return cls.from_mask(mask, widen=widen)
        return cls(ids=a, count=a.size, widen=widen)

    @classmethod
    def from_mask(cls, mask: Any, *, widen: bool = True) -> "IDFilter":
        """Allows id ``i`` iff ``mask[i]`` is true (ids at or past ``len(mask)`` are rejected)."""
        m = np.asarray(mask)
        if m.dtype != np.bool_ or m.ndim != 1:
            raise TypeError(f"a filter mask must be a 1-D boolean array, got {m.dtype} with shape {m.shape}")
        packed = np.packbits(m, bitorder="little")
        words = np.zeros((packed.size + 7) // 8 * 8, np.uint8)
        words[: packed.size] = packed
        return cls(bits=words.view("<u8").astype(np.uint64, copy=False), count=int(np.count_nonzero(m)), widen=widen)

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes of the filter's arrays."""
        return int((self._bits if self._bits is not None else self._ids).nbytes)  # type: ignore[union-attr]

    def fixed(self) -> "IDFilter":
        """The same allowed ids with ``widen=False`` (shares the arrays)."""
        return IDFilter(bits=self._bits, ids=self._ids, count=self._count, widen=False)

    def __reduce__(self) -> Any:  # picklable (sent to Ray shard actors)
        return (_rebuild, (self._bits, self._ids, self._count, self.widen))

    def core_args(self) -> Dict[str, Optional[np.ndarray]]:
        """Keyword arguments of the core's ``search`` (``filter_bits`` or ``filter_ids``)."""
        return {"filter_bits": self._bits, "filter_ids": self._ids}

    def allows(self, ids: Any) -> np.ndarray:
        """Boolean array: which of ``ids`` the filter allows (the same rule as the core)."""
        a = np.asarray(ids, dtype=np.int64)
        if self._bits is not None:
            nbits = self._bits.size * 64
            ok = (a >= 0) & (a < nbits)
            out = np.zeros(a.shape, np.bool_)
            v = a[ok]
            out[ok] = (self._bits[v >> 6] >> (v & 63).astype(np.uint64)) & np.uint64(1) == 1
            return out
        assert self._ids is not None
        return np.isin(a, self._ids)

    def __repr__(self) -> str:
        form = "bitmap" if self._bits is not None else "sorted ids"
        return f"IDFilter({self._count} allowed ids, {form}, widen={self.widen})"


def _rebuild(bits: Optional[np.ndarray], ids: Optional[np.ndarray], count: int, widen: bool) -> IDFilter:
    return IDFilter(bits=bits, ids=ids, count=count, widen=widen)


def as_filter(filter: Any) -> Optional[IDFilter]:
    """``None``, an :class:`IDFilter`, a boolean mask or an integer allow-list -> IDFilter (or None)."""
    if filter is None or isinstance(filter, IDFilter):
        return filter
    if callable(filter):
        raise TypeError("filter must be an id allow-list, a boolean mask or an adanns.IDFilter, not a callable")
    a = np.asarray(filter)
    if a.dtype == np.bool_:
        return IDFilter.from_mask(a)
    return IDFilter.from_ids(a)
